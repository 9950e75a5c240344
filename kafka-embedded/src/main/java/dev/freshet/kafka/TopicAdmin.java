package dev.freshet.kafka;

import dev.freshet.config.ConfigSource;
import dev.freshet.config.Setting;
import dev.freshet.schemas.Topics;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Creates every Freshet topic ({@link Topics}) with the configured partition count and retention, on the
 * embedded broker or any cluster reachable through an {@link Admin}. Topics that already exist are left
 * as they are, so running it on every start is safe.
 */
public final class TopicAdmin {

    public static final Setting<Integer> PARTITIONS = Setting.ofInt("topics.partitions", 4, 1, 10_000,
            "Partitions of each Freshet topic created by Freshet (existing topics are not changed).");
    public static final Setting<Duration> RETENTION = Setting.ofDuration("topics.retention", "7d",
            Duration.ofMinutes(1), Duration.ofDays(3650),
            "How long Freshet topics keep records; the trainer can replay this far back.");
    public static final List<Setting<?>> SETTINGS = List.of(PARTITIONS, RETENTION);

    /**
     * @param partitions partitions per topic, at least 1
     * @param retention  record retention, positive
     * @param replicationFactor replicas per partition; 1 on the embedded broker
     */
    public record Config(int partitions, Duration retention, short replicationFactor) {
        public Config {
            Objects.requireNonNull(retention, "retention");
            if (partitions < 1) {
                throw new IllegalArgumentException("topics.partitions = " + partitions + " must be at least 1. Fix: set topics.partitions=4.");
            }
            if (retention.isNegative() || retention.isZero()) {
                throw new IllegalArgumentException("topics.retention = " + retention + " must be positive. Fix: set topics.retention=7d.");
            }
            if (replicationFactor < 1) {
                throw new IllegalArgumentException("replication factor " + replicationFactor + " must be at least 1");
            }
        }

        public static Config from(ConfigSource source) {
            return new Config(source.get(PARTITIONS), source.get(RETENTION), (short) 1);
        }
    }

    private TopicAdmin() {
    }

    /**
     * Creates each of {@code topics.all()} that does not exist yet.
     *
     * @return the names it created, in {@link Topics#all()} order
     */
    public static List<String> createAll(Admin admin, Topics topics, Config config) {
        Objects.requireNonNull(admin, "admin");
        Objects.requireNonNull(topics, "topics");
        Objects.requireNonNull(config, "config");
        try {
            Set<String> existing = admin.listTopics().names().get(30, TimeUnit.SECONDS);
            List<NewTopic> missing = new ArrayList<>();
            for (String name : topics.all()) {
                if (!existing.contains(name)) {
                    missing.add(new NewTopic(name, config.partitions(), config.replicationFactor())
                            .configs(Map.of(TopicConfig.RETENTION_MS_CONFIG, Long.toString(config.retention().toMillis()))));
                }
            }
            List<String> created = new ArrayList<>();
            var result = admin.createTopics(missing);
            for (NewTopic t : missing) {
                try {
                    result.values().get(t.name()).get(30, TimeUnit.SECONDS);
                    created.add(t.name());
                } catch (ExecutionException e) {
                    // Someone else created it between our listing and our request: that is what we wanted.
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw new IllegalStateException("cannot create topic " + t.name() + ": " + e.getCause().getMessage(), e.getCause());
                    }
                }
            }
            awaitLeaders(admin, topics.all(), Duration.ofSeconds(30));
            return created;
        } catch (ExecutionException e) {
            throw new IllegalStateException("cannot list topics: " + e.getCause().getMessage()
                    + ". Fix: check bootstrap.servers and that the cluster is up.", e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("Kafka did not answer within 30 s while creating Freshet topics. Fix: check bootstrap.servers.", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while creating Freshet topics", e);
        }
    }

    /**
     * Waits until every partition of {@code topics} has a leader that serves requests. The controller
     * acknowledges a new topic before the broker has applied it: first clients see
     * UNKNOWN_TOPIC_OR_PARTITION, then, briefly, the metadata already names the leader while the broker
     * still answers produce requests with NOT_LEADER_OR_FOLLOWER. An idempotent producer with several
     * requests in flight can then have later batches accepted before its retried first one, which the
     * broker rejects as out of sequence for good (seen as batches expiring after delivery.timeout.ms).
     * A ListOffsets request is served by the partition leader itself, so once it succeeds for every
     * partition, producing is safe.
     */
    public static void awaitLeaders(Admin admin, List<String> topics, Duration timeout) throws InterruptedException, TimeoutException {
        long deadline = System.nanoTime() + timeout.toNanos();
        Exception last = null;
        while (System.nanoTime() < deadline) {
            try {
                Map<TopicPartition, OffsetSpec> partitions = new HashMap<>();
                for (TopicDescription d : admin.describeTopics(topics).allTopicNames().get(5, TimeUnit.SECONDS).values()) {
                    for (TopicPartitionInfo p : d.partitions()) {
                        if (p.leader() == null) {
                            throw new ExecutionException(new IllegalStateException("partition " + d.name() + "-" + p.partition() + " has no leader yet"));
                        }
                        partitions.put(new TopicPartition(d.name(), p.partition()), OffsetSpec.latest());
                    }
                }
                admin.listOffsets(partitions).all().get(5, TimeUnit.SECONDS);
                return;
            } catch (ExecutionException | TimeoutException e) {
                last = e;
                Thread.sleep(20);
            }
        }
        throw new TimeoutException("topics " + topics + " have no serving leader after " + timeout.toSeconds() + " s"
                + (last == null ? "" : ": " + last.getMessage()));
    }

    /** Records ever written to {@code topic}: the sum of its partitions' end offsets. */
    public static long endOffsetSum(Admin admin, String topic) {
        try {
            Map<TopicPartition, OffsetSpec> partitions = new HashMap<>();
            for (TopicPartitionInfo p : admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS).get(topic).partitions()) {
                partitions.put(new TopicPartition(topic, p.partition()), OffsetSpec.latest());
            }
            long sum = 0;
            for (var r : admin.listOffsets(partitions).all().get(30, TimeUnit.SECONDS).values()) sum += r.offset();
            return sum;
        } catch (ExecutionException e) {
            throw new IllegalStateException("cannot read the end offsets of topic " + topic + ": " + e.getCause().getMessage()
                    + ". Fix: check bootstrap.servers and that the topic exists (freshet topics).", e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("Kafka did not answer within 30 s for the end offsets of " + topic + ". Fix: check bootstrap.servers.", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while reading the end offsets of " + topic, e);
        }
    }

    /** Creates every missing Freshet topic on the embedded broker. */
    public static List<String> createAll(EmbeddedKafka kafka, Topics topics, Config config) {
        return createAll(kafka.admin(), topics, config);
    }
}
