package dev.freshet.featurestream;

import dev.freshet.features.Examples;
import dev.freshet.featurestream.internal.ClickDecoder;
import dev.freshet.featurestream.internal.DeadLetterRecords;
import dev.freshet.featurestream.internal.FeatureRow;
import dev.freshet.featurestream.internal.RecordTypes;
import dev.freshet.kafka.EmbeddedKafka;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.IdFrequencyStats;
import dev.freshet.schemas.Topics;
import dev.freshet.schemas.serde.AvroCodec;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole job against a real in-process KRaft broker: Kafka source, checkpoints, transactional
 * sinks. The job is made to fail in the middle of the stream, after a checkpoint has committed
 * examples; it restarts from that checkpoint, and the committed topics (read_committed) hold each
 * input example exactly once, with the values the decoder computes for it. The dedup's state survives
 * a change of parallelism (stop with a savepoint, restore with more or fewer subtasks).
 */
class ExactlyOnceRecoveryTest {
    /** A minute boundary, so that phase 1 fills exactly one 1-minute stats window. */
    private static final long T0 = 1_700_000_040_000L;
    private static final AtomicInteger FAILURES = new AtomicInteger();

    private static EmbeddedKafka kafka;

    @TempDir
    Path work;

    @BeforeAll
    static void startBroker() {
        kafka = EmbeddedKafka.start();
    }

    @AfterAll
    static void stopBroker() {
        if (kafka != null) kafka.close();
    }

    @Test
    void aJobThatFailsMidStreamRestartsFromItsCheckpointAndWritesEveryExampleExactlyOnce() throws Exception {
        FeatureStreamConfig config = config("eo.", "500ms");
        createTopics(config.topics(), 2);
        TestEvents events = new TestEvents(config.layout());
        ClickDecoder expectedDecoder = new ClickDecoder(config.layout());
        Map<String, FeatureRow> expected = new HashMap<>();

        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(2, FeatureJob.flinkConfiguration(config));
        FeatureJob.build(env, config, rows -> rows.map(new FailOnceAt("e-2500"), RecordTypes.ROW).name("fail once"));
        JobClient job = env.executeAsync("exactly-once test");
        try (KafkaProducer<byte[], byte[]> producer = producer()) {
            // Phase 1: 2,000 examples in the first stats window, plus two bad records.
            for (int i = 0; i < 2_000; i++) {
                send(producer, config, events, events.labeled("e-" + i, T0 + i * 10L, i % 3 == 0 ? 1 : 0, "u" + (i % 7), "i" + (i % 50)), expected, expectedDecoder);
            }
            producer.send(new ProducerRecord<>(config.topics().clicks(), "junk".getBytes(StandardCharsets.UTF_8), new byte[]{9, 9, 9}));
            ClickEvent nan = events.labeled("bad-nan", T0 + 5, 1, "u1", "i1");
            nan.getDense().set(0, Double.NaN);
            producer.send(new ProducerRecord<>(config.topics().clicks(), "bad-nan".getBytes(StandardCharsets.UTF_8), events.encode(nan)));
            producer.flush();

            // A checkpoint has committed part of the output before the failure.
            int before = awaitCommitted(config.topics().features(), config, n -> n > 0, Duration.ofSeconds(60)).count;
            assertTrue(before > 0);
            assertEquals(0, FAILURES.get(), "no failure yet: e-2500 is not produced");

            // Phase 2: 2,000 more in the next window; e-2500 fails the job once; e-10 again is a duplicate that only
            // the dedup state restored from the checkpoint can recognise.
            // e-10 comes first in its partition, so the watermark is still inside e-10's dedup window (1 minute).
            producer.send(new ProducerRecord<>(config.topics().clicks(), "e-10".getBytes(StandardCharsets.UTF_8),
                    events.encode(events.labeled("e-10", T0 + 100, 1, "u3", "i3"))));
            for (int i = 2_000; i < 4_000; i++) {
                send(producer, config, events, events.labeled("e-" + i, T0 + 65_000 + i * 10L, i % 3 == 0 ? 1 : 0, "u" + (i % 7), "i" + (i % 50)), expected, expectedDecoder);
            }
            producer.flush();

            Examples all = awaitCommitted(config.topics().features(), config, n -> n >= 4_000, Duration.ofSeconds(40));
            assertEquals(1, FAILURES.get(), "the job failed once at e-2500");
            // Let a few more checkpoints commit: a duplicate would show up now.
            Thread.sleep(2_000);
            all = awaitCommitted(config.topics().features(), config, n -> n >= 4_000, Duration.ofSeconds(30));
            assertEquals(4_000, all.count, "each input example exactly once");
            Map<String, Integer> index = new HashMap<>();
            for (int i = 0; i < all.count; i++) {
                Integer dup = index.put(all.eventIds.get(i), i);
                assertEquals(null, dup, "example " + all.eventIds.get(i) + " written twice");
            }
            assertEquals(expected.keySet(), index.keySet());
            for (Map.Entry<String, FeatureRow> e : expected.entrySet()) {
                int i = index.get(e.getKey());
                FeatureRow want = e.getValue();
                assertEquals(want.label, all.labels[i], e.getKey());
                assertEquals(want.eventTime, all.eventTimes[i], e.getKey());
                assertArrayEquals(want.dense, java.util.Arrays.copyOfRange(all.dense, i * 2, i * 2 + 2), e.getKey());
                assertArrayEquals(want.sparse, java.util.Arrays.copyOfRange(all.sparse, i * 2, i * 2 + 2), e.getKey());
            }

            List<ConsumerRecord<byte[], byte[]>> dlq = readCommitted(config.topics().featuresDlq(), 2, Duration.ofSeconds(30));
            assertEquals(2, dlq.size(), "two bad records, each dead-lettered once");
            Map<String, String> categories = new HashMap<>();
            for (ConsumerRecord<byte[], byte[]> r : dlq) {
                categories.put(new String(r.key(), StandardCharsets.UTF_8), header(r, DeadLetterRecords.HEADER_CATEGORY));
                assertTrue(header(r, Topics.HEADER_REASON).length() > 20, header(r, Topics.HEADER_REASON));
                assertEquals(config.topics().clicks(), header(r, Topics.HEADER_SOURCE_TOPIC));
            }
            assertEquals(Map.of("junk", ClickDecoder.UNDECODABLE, "bad-nan", ClickDecoder.INVALID_VALUE), categories);

            // The first stats window closed (phase 2 moved the watermark past it): one record per table, exactly once.
            List<ConsumerRecord<byte[], byte[]>> stats = readCommitted(config.topics().featureStats(), 2, Duration.ofSeconds(30));
            AvroCodec<IdFrequencyStats> codec = new AvroCodec<>(IdFrequencyStats.class);
            assertEquals(2, stats.size());
            for (ConsumerRecord<byte[], byte[]> r : stats) {
                IdFrequencyStats s = codec.decode(r.value());
                assertEquals(T0, s.getWindowStart().toEpochMilli());
                assertEquals(2_000, s.getTotalCount(), s.getTable() + ": every phase-1 example once");
            }
        } finally {
            job.cancel().get(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void embeddedJobStopsCleanlyAndCommitsWhatItProcessed() throws Exception {
        // Checkpoints too rare to commit anything during the test: only the stop's savepoint commits.
        FeatureStreamConfig config = config("stop.", "5m");
        createTopics(config.topics(), 1);
        TestEvents events = new TestEvents(config.layout());
        EmbeddedFeatureJob job = EmbeddedFeatureJob.start(config);
        try (KafkaProducer<byte[], byte[]> producer = producer()) {
            for (int i = 0; i < 100; i++) {
                producer.send(new ProducerRecord<>(config.topics().clicks(), events.encode(events.labeled("s-" + i, T0 + i, 1, "u", "i"))));
            }
            producer.flush();
            Thread.sleep(3_000); // give the job time to read them (it commits nothing yet)
            assertEquals(0, readCommitted(config.topics().features(), 0, Duration.ofMillis(500)).size());
        } finally {
            job.close();
            job.close(); // idempotent
        }
        Examples all = awaitCommitted(config.topics().features(), config, n -> n >= 100, Duration.ofSeconds(10));
        assertEquals(100, all.count);
    }

    /**
     * The embedded job stopped and started again on the same work directory resumes from its savepoint: no
     * example twice (it once restarted from the consumer group's offsets, which lag the savepoint), and a copy
     * of an event seen before the restart is still dropped (the dedup state came back with it).
     */
    @Test
    void embeddedJobRestartedResumesFromItsSavepoint() throws Exception {
        FeatureStreamConfig config = config("resume.", "200ms");
        createTopics(config.topics(), 2);
        TestEvents events = new TestEvents(config.layout());
        try (KafkaProducer<byte[], byte[]> producer = producer()) {
            EmbeddedFeatureJob first = EmbeddedFeatureJob.start(config);
            try {
                sendRange(producer, config, events, 0, 400);
                awaitCommitted(config.topics().features(), config, n -> n >= 400, Duration.ofSeconds(30));
            } finally {
                first.close();
            }
            assertTrue(EmbeddedFeatureJob.newestSnapshot(work.resolve("resume")).isPresent(), "the stop left a savepoint");
            sendCopy(producer, config, events, 3);
            sendCopy(producer, config, events, 250);
            sendRange(producer, config, events, 400, 600);
            EmbeddedFeatureJob second = EmbeddedFeatureJob.start(config);
            try {
                awaitCommitted(config.topics().features(), config, n -> n >= 600, Duration.ofSeconds(30));
            } finally {
                second.close();
            }
        }
        // the stop's savepoint committed everything the second run wrote: a repeated example would be here
        Examples all = awaitCommitted(config.topics().features(), config, n -> n >= 600, Duration.ofSeconds(10));
        assertEquals(600, all.count, "every event once: none repeated after the restart, neither copy");
        assertEquals(600, new HashSet<>(all.eventIds).size());
    }

    @Test
    void dedupStateRestoredAtAnotherParallelismStillDropsACopyOfAnEventSeenBeforeTheRescale() throws Exception {
        FeatureStreamConfig config = config("rescale.", "500ms");
        createTopics(config.topics(), 2);
        TestEvents events = new TestEvents(config.layout());
        try (KafkaProducer<byte[], byte[]> producer = producer()) {
            // Parallelism 1: the dedup is chained to the source, its rows reinterpreted as keyed (no keyBy).
            String first = runUntilCommittedThenStop(config.withParallelism(1), null, () -> sendRange(producer, config, events, 0, 600), 600);
            // Parallelism 2 (a keyBy before the dedup) from that savepoint: each copy goes to the partition its original
            // was not in, so another source subtask reads it and only the keyBy brings it to the bucket's restored state.
            String second = runUntilCommittedThenStop(config.withParallelism(2), first, () -> {
                sendCopy(producer, config, events, 5);
                sendCopy(producer, config, events, 300);
                sendRange(producer, config, events, 600, 1200);
            }, 1200);
            // Back to parallelism 1 from the parallelism-2 savepoint: copies of a first-phase and a second-phase event.
            runUntilCommittedThenStop(config.withParallelism(1), second, () -> {
                sendCopy(producer, config, events, 7);
                sendCopy(producer, config, events, 900);
                sendRange(producer, config, events, 1200, 1500);
            }, 1500);
        }
        Examples all = awaitCommitted(config.topics().features(), config, n -> n >= 1500, Duration.ofSeconds(10));
        assertEquals(1500, all.count, "every event once, none of the four copies");
        Set<String> ids = new HashSet<>(all.eventIds);
        assertEquals(1500, ids.size());
        for (int i = 0; i < 1500; i++) assertTrue(ids.contains("r-" + i), "r-" + i);
    }

    /**
     * Runs the whole job at {@code config}'s parallelism, restored from {@code savepoint} (null: fresh state), until
     * {@code features} holds {@code committed} examples; then stops it with a savepoint, which commits what it has
     * written, and checks that exactly that many are committed (a copy that slipped through would make one more).
     */
    private String runUntilCommittedThenStop(FeatureStreamConfig config, String savepoint, Runnable produce, int committed)
            throws Exception {
        Configuration conf = FeatureJob.flinkConfiguration(config);
        if (savepoint != null) conf.set(StateRecoveryOptions.SAVEPOINT_PATH, savepoint);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(config.parallelism(), conf);
        FeatureJob.build(env, config);
        JobClient job = env.executeAsync("rescale test at parallelism " + config.parallelism());
        try {
            produce.run();
            awaitCommitted(config.topics().features(), config, n -> n >= committed, Duration.ofSeconds(60));
        } catch (Throwable t) {
            job.cancel().get(30, TimeUnit.SECONDS);
            throw t;
        }
        String path = job.stopWithSavepoint(false, work.resolve("flink-savepoints").toUri().toString(), SavepointFormatType.CANONICAL)
                .get(60, TimeUnit.SECONDS);
        assertEquals(committed, awaitCommitted(config.topics().features(), config, n -> n >= committed, Duration.ofSeconds(10)).count,
                "committed examples after the run at parallelism " + config.parallelism());
        return path;
    }

    /** Events r-from .. r-(to-1), event i at T0 + 10 i ms in partition i % 2. */
    private static void sendRange(KafkaProducer<byte[], byte[]> producer, FeatureStreamConfig config, TestEvents events, int from, int to) {
        for (int i = from; i < to; i++) sendTo(producer, config, events, i, i % 2);
        producer.flush();
    }

    /** A copy of event r-i (same id, time and content) in the partition r-i was not sent to. */
    private static void sendCopy(KafkaProducer<byte[], byte[]> producer, FeatureStreamConfig config, TestEvents events, int i) {
        sendTo(producer, config, events, i, (i + 1) % 2);
    }

    private static void sendTo(KafkaProducer<byte[], byte[]> producer, FeatureStreamConfig config, TestEvents events, int i, int partition) {
        String id = "r-" + i;
        byte[] value = events.encode(events.labeled(id, T0 + i * 10L, i % 3 == 0 ? 1 : 0, "u" + (i % 7), "i" + (i % 50)));
        producer.send(new ProducerRecord<>(config.topics().clicks(), partition, id.getBytes(StandardCharsets.UTF_8), value));
    }

    private FeatureStreamConfig config(String prefix, String checkpointInterval) {
        return TestEvents.config(Map.of(
                "topics.prefix", prefix,
                "kafka.bootstrap-servers", kafka.bootstrapServers(),
                "feature-stream.parallelism", "2",
                "feature-stream.checkpoint-interval", checkpointInterval,
                "feature-stream.stats-window", "1m",
                "feature-stream.batch-size", "256",
                "feature-stream.linger", "50ms",
                "feature-stream.transactional-id-prefix", "test-" + prefix.replace(".", ""),
                "feature-stream.group-id", "test-" + prefix,
                // a work directory per test: an embedded job resumes from the snapshots it finds there
                "freshet.work-dir", work.resolve(prefix.replace(".", "")).toString()));
    }

    private static void createTopics(Topics topics, int clickPartitions) {
        kafka.createTopic(topics.clicks(), clickPartitions);
        kafka.createTopic(topics.features(), 1);
        kafka.createTopic(topics.featureStats(), 1);
        kafka.createTopic(topics.featuresDlq(), 1);
    }

    private static void send(KafkaProducer<byte[], byte[]> producer, FeatureStreamConfig config, TestEvents events, ClickEvent e,
                             Map<String, FeatureRow> expected, ClickDecoder decoder) {
        byte[] value = events.encode(e);
        expected.put(e.getEventId(), decoder.decode(null, value, "x", 0, 0).left());
        producer.send(new ProducerRecord<>(config.topics().clicks(), e.getEventId().getBytes(StandardCharsets.UTF_8), value));
    }

    private static KafkaProducer<byte[], byte[]> producer() {
        Map<String, Object> p = kafka.clientProps();
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    }

    private static Examples awaitCommitted(String topic, FeatureStreamConfig config, Predicate<Integer> done, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        Examples e;
        do {
            List<byte[]> values = readCommitted(topic, 0, Duration.ofMillis(300)).stream().map(ConsumerRecord::value).toList();
            e = TestEvents.decodeBatches(values, config.layout());
            if (done.test(e.count)) return e;
        } while (System.nanoTime() < deadline);
        throw new AssertionError("after " + timeout + " " + topic + " holds " + e.count + " committed examples; source group "
                + config.groupId() + " committed " + groupOffsets(config.groupId()) + " of clicks end offsets " + endOffsets(config.topics().clicks())
                + "; " + topic + " offsets " + beginningOffsets(topic) + ".." + endOffsets(topic));
    }

    /** Every committed record of {@code topic} (read_committed), polling until {@code atLeast} or the time is up. */
    private static List<ConsumerRecord<byte[], byte[]>> readCommitted(String topic, int atLeast, Duration patience) {
        Map<String, Object> p = kafka.clientProps();
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = c.partitionsFor(topic).stream().map(i -> new TopicPartition(topic, i.partition())).toList();
            c.assign(parts);
            c.seekToBeginning(parts);
            long deadline = System.nanoTime() + patience.toNanos();
            int empty = 0;
            while (System.nanoTime() < deadline) {
                var records = c.poll(Duration.ofMillis(100));
                records.forEach(out::add);
                if (records.isEmpty() && out.size() >= atLeast && ++empty >= 2) break;
            }
        }
        return out;
    }

    private static Map<TopicPartition, Long> groupOffsets(String group) {
        try {
            Map<TopicPartition, Long> out = new HashMap<>();
            kafka.admin().listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get()
                    .forEach((tp, om) -> out.put(tp, om == null ? -1 : om.offset()));
            return out;
        } catch (Exception e) {
            return Map.of();
        }
    }

    private static Map<TopicPartition, Long> beginningOffsets(String topic) {
        Map<String, Object> p = kafka.clientProps();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = c.partitionsFor(topic).stream().map(i -> new TopicPartition(topic, i.partition())).toList();
            return c.beginningOffsets(parts);
        }
    }

    private static Map<TopicPartition, Long> endOffsets(String topic) {
        Map<String, Object> p = kafka.clientProps();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = c.partitionsFor(topic).stream().map(i -> new TopicPartition(topic, i.partition())).toList();
            return c.endOffsets(parts);
        }
    }

    private static String header(ConsumerRecord<byte[], byte[]> r, String name) {
        Header h = r.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    /** Throws once, in the first attempt of whichever subtask meets {@code eventId}: the injected crash. */
    static final class FailOnceAt extends RichMapFunction<FeatureRow, FeatureRow> {
        private final String eventId;

        FailOnceAt(String eventId) {
            this.eventId = eventId;
        }

        @Override
        public FeatureRow map(FeatureRow row) {
            if (row.eventId.equals(eventId) && getRuntimeContext().getTaskInfo().getAttemptNumber() == 0) {
                FAILURES.incrementAndGet();
                throw new IllegalStateException("injected failure at " + eventId);
            }
            return row;
        }
    }
}
