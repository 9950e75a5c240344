package dev.freshet.kafka;

import dev.freshet.config.ConfigSource;
import dev.freshet.config.Setting;
import dev.freshet.schemas.Topics;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;

import java.time.Duration;
import java.util.ArrayList;
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
            awaitKnown(admin, topics.all());
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

    /** The controller acknowledges new topics before brokers know them; wait so that callers can use them at once. */
    private static void awaitKnown(Admin admin, List<String> names) throws InterruptedException, TimeoutException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            try {
                admin.describeTopics(names).allTopicNames().get(5, TimeUnit.SECONDS);
                return;
            } catch (ExecutionException e) {
                if (System.nanoTime() > deadline) {
                    throw new TimeoutException("topics " + names + " not visible on the brokers after 30 s: " + e.getCause().getMessage());
                }
                Thread.sleep(20);
            }
        }
    }

    /** Creates every missing Freshet topic on the embedded broker. */
    public static List<String> createAll(EmbeddedKafka kafka, Topics topics, Config config) {
        return createAll(kafka.admin(), topics, config);
    }
}
