package dev.freshet.platform.internal;

import dev.freshet.platform.FreshnessTracker;
import dev.freshet.schemas.ConsumerThreads;
import dev.freshet.schemas.FeatureBatch;
import dev.freshet.schemas.Topics;
import dev.freshet.schemas.serde.AvroCodec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteOrder;
import java.nio.LongBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Watches what the pipeline committed, for the demo's counts and freshness: every {@code features}
 * record (examples featurised, and their event times for {@link FreshnessTracker}) and both
 * dead-letter topics. Reads with {@code read_committed}, so it counts exactly what the trainer can
 * see; it joins no consumer group and commits nothing, so it never disturbs the pipeline. It starts at
 * the topics' current end: the counts are this run's.
 */
public final class FeatureTap implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(FeatureTap.class);

    private final KafkaConsumer<byte[], byte[]> consumer;
    private final Topics topics;
    private final FreshnessTracker freshness;
    private final AvroCodec<FeatureBatch> codec = new AvroCodec<>(FeatureBatch.class);
    private final AtomicLong examples = new AtomicLong();
    private final AtomicLong featureRecords = new AtomicLong();
    private final AtomicLong clickDeadLetters = new AtomicLong();
    private final AtomicLong featureDeadLetters = new AtomicLong();
    private final AtomicLong undecodable = new AtomicLong();
    private final Thread thread;
    private volatile boolean running = true;

    public FeatureTap(String bootstrapServers, Topics topics, FreshnessTracker freshness) {
        this.topics = topics;
        this.freshness = freshness;
        Map<String, Object> p = new HashMap<>();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "freshet-platform-tap");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 4 * 1024 * 1024);
        consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        List<TopicPartition> partitions = new ArrayList<>();
        for (String topic : List.of(topics.features(), topics.clicksDlq(), topics.featuresDlq())) {
            for (PartitionInfo info : consumer.partitionsFor(topic, Duration.ofSeconds(30))) {
                partitions.add(new TopicPartition(topic, info.partition()));
            }
        }
        consumer.assign(partitions);
        consumer.seekToEnd(partitions);
        partitions.forEach(consumer::position); // resolve "end" now, before anything is produced
        thread = new Thread(this::loop, "freshet-feature-tap");
        thread.setDaemon(true);
        thread.start();
    }

    private void loop() {
        try {
            while (running) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                    if (r.topic().equals(topics.features())) {
                        featureRecord(r);
                    } else if (r.topic().equals(topics.clicksDlq())) {
                        clickDeadLetters.incrementAndGet();
                    } else {
                        featureDeadLetters.incrementAndGet();
                    }
                }
            }
        } catch (WakeupException e) {
            // close() asked us to stop
        } catch (RuntimeException e) {
            LOG.warn("feature tap stopped: {}; counts and freshness on the console stop updating", e.toString());
        } finally {
            consumer.close(Duration.ofSeconds(5));
        }
    }

    private void featureRecord(ConsumerRecord<byte[], byte[]> r) {
        FeatureBatch batch;
        try {
            batch = codec.decode(r.value());
        } catch (RuntimeException e) {
            // The trainer dead-letters such a record; here it only must not stop the counting.
            undecodable.incrementAndGet();
            return;
        }
        LongBuffer times = batch.getEventTimes().duplicate().order(ByteOrder.LITTLE_ENDIAN).asLongBuffer();
        long[] eventTimes = new long[times.remaining()];
        times.get(eventTimes);
        freshness.featuresRecord(r.partition(), r.offset(), eventTimes, System.currentTimeMillis());
        featureRecords.incrementAndGet();
        examples.addAndGet(batch.getCount());
    }

    /** Examples committed to {@code features} since the tap started. */
    public long examples() {
        return examples.get();
    }

    public long featureRecords() {
        return featureRecords.get();
    }

    /** Records on {@code clicks.dlq} since the tap started (rejected by ingest validation). */
    public long clickDeadLetters() {
        return clickDeadLetters.get();
    }

    /** Records on {@code features.dlq} since the tap started (rejected by the feature job). */
    public long featureDeadLetters() {
        return featureDeadLetters.get();
    }

    public long undecodable() {
        return undecodable.get();
    }

    @Override
    public void close() {
        if (!running) return;
        running = false;
        ConsumerThreads.wakeAndJoin(consumer, thread);
    }
}
