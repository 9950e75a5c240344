package dev.freshet.trainer.online;

import dev.freshet.config.ConfigSource;
import dev.freshet.features.Examples;
import dev.freshet.kafka.junit.EmbeddedKafkaExtension;
import dev.freshet.schemas.FeatureBatch;
import dev.freshet.schemas.serde.AvroCodec;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelDelta;
import dev.freshet.trainer.ModelDivergedException;
import dev.freshet.trainer.ModelSink;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.StepResult;
import dev.freshet.trainer.TrainerBackend;
import dev.freshet.trainer.checkpoint.CheckpointStore;
import dev.freshet.trainer.cpu.CpuBackend;
import dev.freshet.trainer.host.HostModelState;
import dev.freshet.trainer.metrics.SlidingWindowMetrics;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The online loop against a real in-process broker and the real CPU backend. */
class OnlineTrainerTest {
    @RegisterExtension
    static final EmbeddedKafkaExtension kafka = new EmbeddedKafkaExtension();

    static TrainerConfig config(String prefix, Path dir, Map<String, String> extra) {
        Map<String, String> m = new HashMap<>();
        m.put("kafka.bootstrap-servers", kafka.bootstrapServers());
        m.put("topics.prefix", prefix);
        m.put("trainer.group-id", prefix + "trainer");
        m.put("trainer.checkpoint-dir", dir.resolve("checkpoints").toString());
        m.put("trainer.publish-dir", dir.resolve("published").toString());
        m.put("trainer.metric-window", "1000");
        m.put("trainer.poll-timeout", "100ms");
        m.putAll(extra);
        return TrainerConfig.from(ConfigSource.of(m));
    }

    static OnlineTrainer trainer(TrainerConfig config, SyntheticFeatures data, TrainerBackend backend, ModelSink sink, Clock clock,
                                 TrainerListener listener) {
        return OnlineTrainer.builder(config, backend.config(), data.layout.id())
                .backend(backend).sink(sink).clock(clock).listener(listener)
                .consumer(new KafkaConsumer<>(OnlineTrainer.consumerProperties(config)))
                .stateAllocator(HostModelState::allocate)
                .build();
    }

    /** Records of {@code perRecord} examples, {@code records} per partition. */
    static List<List<byte[]>> stream(SyntheticFeatures data, int partitions, int records, int perRecord) {
        List<List<byte[]>> out = new ArrayList<>();
        for (int p = 0; p < partitions; p++) out.add(new ArrayList<>());
        for (int i = 0; i < records; i++) {
            for (int p = 0; p < partitions; p++) out.get(p).add(data.encode(data.next(perRecord)));
        }
        return out;
    }

    static void assertSameModel(ModelState a, ModelState b) {
        assertArrayEquals(a.dense().values(), b.dense().values(), "dense weights");
        assertArrayEquals(a.dense().slot1(), b.dense().slot1(), "dense optimizer state");
        float[] ra = new float[a.config().embeddingDim()];
        float[] rb = new float[ra.length];
        for (int t = 0; t < a.tables().size(); t++) {
            for (int r = 0; r < a.tables().get(t).spec().rows(); r++) {
                a.tables().get(t).readRow(r, ra, 0);
                b.tables().get(t).readRow(r, rb, 0);
                assertArrayEquals(ra, rb, "table " + t + " row " + r);
                assertEquals(a.tables().get(t).accumulator(r), b.tables().get(t).accumulator(r), "accumulator " + t + "/" + r);
            }
        }
    }

    static ModelState newestCheckpoint(Path dir) throws IOException {
        return new CheckpointStore(dir.resolve("checkpoints"), 2).loadNewest(HostModelState::allocate).orElseThrow().state();
    }

    @Test
    void stoppedAndResumedRunEqualsUninterruptedRunBitForBit(@TempDir Path tmp) throws IOException {
        // 24-example records and 32-example batches: most batches end inside a record.
        SyntheticFeatures data = new SyntheticFeatures(1);
        ModelConfig model = data.model(32);
        kafka.createTopic("resume.features", 2);
        SyntheticFeatures.produce(kafka.bootstrapServers(), "resume.features", 2, stream(data, 2, 20, 24));
        int total = 2 * 20 * 24;

        Path straight = tmp.resolve("straight");
        try (CpuBackend backend = CpuBackend.create(model, 1);
             OnlineTrainer t = trainer(config("resume.", straight, Map.of("trainer.stop-after-examples", Integer.toString(total))),
                     data, backend, new RecordingSink(), Clock.systemUTC(), new TrainerListener() { })) {
            t.run();
            assertEquals(total, t.trainedExamples());
            assertEquals(total / 32, t.step());
        }

        Path split = tmp.resolve("split");
        try (CpuBackend backend = CpuBackend.create(model, 1);
             OnlineTrainer t = trainer(config("resume.", split, Map.of("trainer.stop-after-examples", "448",
                     "trainer.group-id", "split")), data, backend, new RecordingSink(), Clock.systemUTC(), new TrainerListener() { })) {
            t.run();
            assertEquals(448, t.trainedExamples());
        }
        // A second trainer with a fresh backend resumes from the checkpoint the first one left.
        try (CpuBackend backend = CpuBackend.create(model, 1);
             OnlineTrainer t = trainer(config("resume.", split, Map.of("trainer.stop-after-examples", Integer.toString(total),
                     "trainer.group-id", "split")), data, backend, new RecordingSink(), Clock.systemUTC(), new TrainerListener() { })) {
            t.run();
            assertEquals(total, t.trainedExamples());
        }
        try (ModelState a = newestCheckpoint(straight); ModelState b = newestCheckpoint(split)) {
            assertSameModel(a, b);
        }
        CheckpointStore.Checkpoint last = new CheckpointStore(split.resolve("checkpoints"), 2).list().get(0);
        assertEquals("20:0", last.metadata().get("trainer.position.0"));
        assertEquals("20:0", last.metadata().get("trainer.position.1"));
    }

    @Test
    void badRecordsAreRefusedCountedAndTrainingGoesOn(@TempDir Path tmp) throws IOException {
        SyntheticFeatures data = new SyntheticFeatures(2);
        AvroCodec<FeatureBatch> codec = new AvroCodec<>(FeatureBatch.class);
        List<byte[]> records = new ArrayList<>();
        records.add(data.encode(data.next(16)));
        records.add(new byte[]{(byte) 0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9});   // corrupt: unknown schema
        records.add(data.encode(data.next(16)));
        Examples otherLayout = data.next(16);
        otherLayout.layoutId = 12345;
        records.add(data.encode(otherLayout));
        records.add(data.encode(data.next(16)));
        Examples twoDense = new Examples(4, 2, 3);                                          // wrong feature count
        twoDense.count = 4;
        twoDense.layoutId = data.layout.id();
        records.add(codec.encode(twoDense.toRecord()));
        records.add(data.encode(data.next(16)));
        Examples badRow = data.next(16);
        badRow.sparse[5 * 3 + 1] = SyntheticFeatures.ITEMS + 7;                             // item row out of range
        records.add(data.encode(badRow));
        Examples nanDense = data.next(16);
        nanDense.dense[4] = Float.NaN;
        records.add(data.encode(nanDense));
        records.add(data.encode(data.next(16)));
        records.add(data.encode(data.next(16)));
        records.add(data.encode(data.next(16)));
        kafka.createTopic("bad.features", 1);
        SyntheticFeatures.produce(kafka.bootstrapServers(), "bad.features", 1, List.of(records));

        try (CpuBackend backend = CpuBackend.create(data.model(16), 1);
             OnlineTrainer t = trainer(config("bad.", tmp, Map.of("trainer.stop-after-examples", "112")), data, backend,
                     new RecordingSink(), Clock.systemUTC(), new TrainerListener() { })) {
            t.run();
            assertEquals(112, t.trainedExamples(), "the 7 good records");
            assertEquals(Map.of("corrupt", 1L, "layout", 1L, "shape", 1L, "label", 0L, "dense_value", 1L, "row_range", 1L), t.rejectedRecords());
        }
        CheckpointStore.Checkpoint last = new CheckpointStore(tmp.resolve("checkpoints"), 2).list().get(0);
        assertEquals("12:0", last.metadata().get("trainer.position.0"), "every record consumed, refused ones included");
    }

    /** Poisons layer top.0 before the fifth step: the real CPU backend then finds a NaN loss. */
    private static final class PoisonedBackend implements TrainerBackend {
        private final CpuBackend inner;
        private int calls;

        PoisonedBackend(CpuBackend inner) {
            this.inner = inner;
        }

        @Override
        public StepResult train(Examples batch, float[] out) {
            if (++calls == 5) {
                int at = inner.state().dense().top().get(0).weightOffset() + 3;
                inner.state().dense().values()[at] = Float.POSITIVE_INFINITY;
            }
            return inner.train(batch, out);
        }

        @Override public String description() { return "poisoned " + inner.description(); }
        @Override public ModelConfig config() { return inner.config(); }
        @Override public void predict(Examples batch, float[] out) { inner.predict(batch, out); }
        @Override public ModelState state() { return inner.state(); }
        @Override public void load(ModelState source) { inner.load(source); }
        @Override public void close() { inner.close(); }
    }

    @Test
    void divergenceStopsTrainingNamesStepOffsetsAndLayerAndPublishesNothingMore(@TempDir Path tmp) throws IOException {
        SyntheticFeatures data = new SyntheticFeatures(3);
        kafka.createTopic("nan.features", 1);
        SyntheticFeatures.produce(kafka.bootstrapServers(), "nan.features", 1, stream(data, 1, 10, 16));
        MutableClock clock = new MutableClock(Instant.parse("2026-01-01T00:00:00Z"));
        RecordingSink sink = new RecordingSink();
        TrainerListener tick = new TrainerListener() {
            @Override
            public void afterStep(long step, int partition, String from, String to, double loss) {
                clock.advance(Duration.ofSeconds(1)); // one delta after every step
            }
        };
        // checkpoint every 2 steps (32 examples), a delta every second
        TrainerConfig config = config("nan.", tmp, Map.of("trainer.delta-interval", "1s", "trainer.checkpoint-events", "32"));
        try (PoisonedBackend backend = new PoisonedBackend(CpuBackend.create(data.model(16), 1));
             OnlineTrainer t = trainer(config, data, backend, sink, clock, tick)) {
            ModelDivergedException e = assertThrows(ModelDivergedException.class, t::run);
            assertTrue(e.getMessage().contains("at step 4"), e.getMessage());
            assertTrue(e.getMessage().contains("nan.features-0 from offset 4 (example 0) to offset 5 (example 0"), e.getMessage());
            assertTrue(e.getMessage().contains("top.0"), e.getMessage());
            assertTrue(t.diverged());
            assertEquals(4, t.step());
        }
        assertEquals(4, sink.deltas.size(), "a delta after each of the 4 good steps, none after");
        for (ModelDelta d : sink.deltas) {
            for (float v : d.dense()) assertTrue(Float.isFinite(v));
        }
        assertEquals(4, new CheckpointStore(tmp.resolve("checkpoints"), 5).list().get(0).step(), "no checkpoint after the divergence");
    }

    @Test
    void deltasCarryExactlyTheTouchedRowsAndFollowTheInjectedClock(@TempDir Path tmp) throws IOException {
        SyntheticFeatures data = new SyntheticFeatures(4);
        List<List<byte[]>> records = new ArrayList<>();
        List<Examples> batches = new ArrayList<>();
        records.add(new ArrayList<>());
        for (int i = 0; i < 8; i++) {
            Examples e = data.next(16);
            batches.add(e);
            records.get(0).add(data.encode(e));
        }
        kafka.createTopic("delta.features", 1);
        SyntheticFeatures.produce(kafka.bootstrapServers(), "delta.features", 1, records);
        MutableClock clock = new MutableClock(Instant.parse("2026-01-01T00:00:00Z"));
        RecordingSink sink = new RecordingSink();
        TrainerListener tick = new TrainerListener() {
            @Override
            public void afterStep(long step, int partition, String from, String to, double loss) {
                clock.advance(Duration.ofSeconds(4));
            }
        };
        TrainerConfig config = config("delta.", tmp, Map.of("trainer.delta-interval", "10s", "trainer.checkpoint-interval", "30s",
                "trainer.status-interval", "5s"));
        try (CpuBackend backend = CpuBackend.create(data.model(16), 1);
             OnlineTrainer t = trainer(config, data, backend, sink, clock, tick)) {
            while (t.step() < 8) t.runOnce();
            // steps end at 4, 8, ... 32 s: deltas at 12 s (steps 0-2) and 24 s (steps 3-5); a checkpoint at 32 s (step 8)
            assertEquals(2, sink.deltas.size());
            assertEquals(List.of(8L), new CheckpointStore(tmp.resolve("checkpoints"), 5).list().stream().map(CheckpointStore.Checkpoint::step).toList());
            for (int d = 0; d < 2; d++) {
                ModelDelta delta = sink.deltas.get(d);
                for (int table = 0; table < 3; table++) {
                    TreeSet<Integer> expected = new TreeSet<>();
                    for (int b = 3 * d; b < 3 * d + 3; b++) {
                        for (int i = 0; i < 16; i++) expected.add(batches.get(b).sparse[i * 3 + table]);
                    }
                    int tableIndex = table;
                    int[] rows = delta.rows().stream().filter(r -> r.table() == tableIndex).findFirst().orElseThrow().rows();
                    assertArrayEquals(expected.stream().mapToInt(Integer::intValue).toArray(), rows, "delta " + d + " table " + table);
                }
                assertEquals(48L * (d + 1), delta.progress().trainedExamples());
            }
            assertEquals(Map.of("delta.features-0", 6L), sink.deltas.get(1).progress().inputOffsets());
            clock.advance(Duration.ofSeconds(5));
            t.runOnce();
            TrainerStatus status = t.status();
            assertEquals(8, status.step());
            assertEquals(128, status.trainedExamples());
            assertTrue(status.line().contains("AUC"), status.line());
            assertTrue(status.line().contains("checkpoint 5s ago (step 8)"), status.line());
        }
    }

    /**
     * On a stream with a known ground truth, progressive validation approaches the best AUC any model can
     * reach there: the AUC of the true probabilities on the same examples.
     */
    @Test
    void progressiveAucApproachesTheBestAchievable(@TempDir Path tmp) throws IOException {
        int examples = 120_000;
        int window = 10_000;
        SyntheticFeatures data = new SyntheticFeatures(11);
        kafka.createTopic("auc.features", 1);
        SyntheticFeatures.produce(kafka.bootstrapServers(), "auc.features", 1, stream(data, 1, examples / 250, 250));
        double best = data.bestAuc(window);
        TrainerConfig config = config("auc.", tmp, Map.of("trainer.metric-window", Integer.toString(window),
                "trainer.stop-after-examples", Integer.toString(examples)));
        SlidingWindowMetrics.Snapshot m;
        try (CpuBackend backend = CpuBackend.create(data.model(50), 2);
             OnlineTrainer t = trainer(config, data, backend, new RecordingSink(), Clock.systemUTC(), new TrainerListener() { })) {
            t.run();
            m = t.metrics();
        }
        double gap = best - m.auc();
        System.out.printf("progressive AUC over the last %d of %d examples: %.4f; best achievable %.4f; gap %.4f; log loss %.4f%n",
                window, examples, m.auc(), best, gap, m.logLoss());
        assertTrue(gap < 0.05, "progressive AUC " + m.auc() + " is " + gap + " below the best achievable " + best);
        assertTrue(gap > -0.01, "progressive AUC " + m.auc() + " beats the ground truth " + best + " by more than noise: the metric is broken");
    }

    @Test
    void roundRobinWaitsForTheNextPartitionWhileArrivalOrderDoesNot(@TempDir Path tmp) throws IOException {
        SyntheticFeatures data = new SyntheticFeatures(6);
        List<List<byte[]>> records = stream(data, 2, 6, 16);
        records.set(1, records.get(1).subList(0, 2)); // partition 1 holds only two batches
        kafka.createTopic("order.features", 2);
        SyntheticFeatures.produce(kafka.bootstrapServers(), "order.features", 2, records);
        MutableClock clock = new MutableClock(Instant.parse("2026-01-01T00:00:00Z"));
        List<Integer> partitions = new ArrayList<>();
        TrainerListener record = new TrainerListener() {
            @Override
            public void afterStep(long step, int partition, String from, String to, double loss) {
                partitions.add(partition);
            }
        };
        try (CpuBackend backend = CpuBackend.create(data.model(16), 1);
             OnlineTrainer t = trainer(config("order.", tmp.resolve("rr"), Map.of()), data, backend, new RecordingSink(), clock, record)) {
            for (int i = 0; i < 300 && t.step() < 5; i++) t.runOnce();
            for (int i = 0; i < 5; i++) t.runOnce(); // everything is polled by now: round-robin must still wait
            clock.advance(Duration.ofSeconds(10));
            t.runOnce();
            assertEquals(List.of(0, 1, 0, 1, 0), partitions);
            assertEquals("partition 1", t.status().waitingFor());
        }
        partitions.clear();
        try (CpuBackend backend = CpuBackend.create(data.model(16), 1);
             OnlineTrainer t = trainer(config("order.", tmp.resolve("arrival"), Map.of("trainer.step-order", "arrival", "trainer.group-id", "arrival")),
                     data, backend, new RecordingSink(), clock, record)) {
            for (int i = 0; i < 300 && t.step() < 8; i++) t.runOnce();
            assertEquals(8, t.step());
            assertEquals(6, partitions.stream().filter(p -> p == 0).count());
            assertEquals(2, partitions.stream().filter(p -> p == 1).count());
        }
    }

    @Test
    void partialBatchesAreTrainedOnceTheirOldestExampleHasLingered(@TempDir Path tmp) throws IOException {
        // 72 examples on partition 0 and 48 on partition 1, batches of 32: three full steps, then 8 and 16 left over.
        SyntheticFeatures data = new SyntheticFeatures(9);
        List<List<byte[]>> records = stream(data, 2, 3, 24);
        records.set(1, records.get(1).subList(0, 2));
        kafka.createTopic("linger.features", 2);
        SyntheticFeatures.produce(kafka.bootstrapServers(), "linger.features", 2, records);
        MutableClock clock = new MutableClock(Instant.parse("2026-01-01T00:00:00Z"));
        List<String> steps = new ArrayList<>();
        TrainerListener record = new TrainerListener() {
            @Override
            public void afterStep(long step, int partition, String from, String to, double loss) {
                steps.add(partition + ":" + from + "-" + to);
            }
        };
        try (CpuBackend backend = CpuBackend.create(data.model(32), 1);
             OnlineTrainer t = trainer(config("linger.", tmp, Map.of("trainer.batch-linger", "1s")), data, backend, new RecordingSink(),
                     clock, record)) {
            for (int i = 0; i < 300 && t.step() < 3; i++) t.runOnce();
            for (int i = 0; i < 5; i++) t.runOnce(); // everything is polled by now, but the clock has not moved
            assertEquals(3, t.step(), "no partial batch before the linger has passed");
            assertEquals(96, t.trainedExamples());
            clock.advance(Duration.ofMillis(999));
            t.runOnce();
            assertEquals(3, t.step(), "1 ms short of the linger");
            clock.advance(Duration.ofMillis(1));
            t.runOnce();
            assertEquals(120, t.trainedExamples(), "every example trained, though 120 is no multiple of 32");
            // Round robin still: partition 1 had the turn, then partition 0's tail; positions end past the last records.
            assertEquals(List.of("0:0:0-1:8", "1:0:0-1:8", "0:1:8-2:16", "1:1:8-2:0", "0:2:16-3:0"), steps);
            assertEquals(Map.of(new TopicPartition("linger.features", 0), 3L, new TopicPartition("linger.features", 1), 2L), t.position());
        }
    }

    @Test
    void aPartitionPausedWhileItsExamplesWaitIsResumedBeforeTheNextPoll(@TempDir Path tmp) throws IOException {
        // 40 records of 16 examples, batches of 8: one poll brings far more than the 4 batches (32 examples) a
        // partition may hold before it is paused, so the loop pauses it, then trains everything it holds.
        SyntheticFeatures data = new SyntheticFeatures(12);
        kafka.createTopic("unpause.features", 1);
        SyntheticFeatures.produce(kafka.bootstrapServers(), "unpause.features", 1, stream(data, 1, 40, 16));
        TrainerConfig config = config("unpause.", tmp, Map.of());
        List<Set<TopicPartition>> pausedAtPoll = new ArrayList<>();
        int[] pauses = new int[1];
        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(OnlineTrainer.consumerProperties(config)) {
            @Override
            public ConsumerRecords<byte[], byte[]> poll(Duration timeout) {
                pausedAtPoll.add(Set.copyOf(paused()));
                return super.poll(timeout);
            }

            @Override
            public void pause(Collection<TopicPartition> partitions) {
                pauses[0]++;
                super.pause(partitions);
            }
        };
        try (CpuBackend backend = CpuBackend.create(data.model(8), 1);
             OnlineTrainer t = OnlineTrainer.builder(config, backend.config(), data.layout.id()).backend(backend).sink(new RecordingSink())
                     .clock(new MutableClock(Instant.parse("2026-01-01T00:00:00Z"))).consumer(consumer)
                     .stateAllocator(HostModelState::allocate).build()) {
            for (int i = 0; i < 300 && t.trainedExamples() < 640; i++) t.runOnce();
            t.runOnce();
            assertEquals(640, t.trainedExamples());
            assertTrue(pauses[0] > 0, "the partition was paused while more than 4 batches waited (else this test shows nothing)");
            // Every step ran before the next poll and left less than a batch: a poll that found the partition still
            // paused would have fetched nothing and waited out trainer.poll-timeout with nothing to train.
            for (int i = 0; i < pausedAtPoll.size(); i++) {
                assertEquals(Set.of(), pausedAtPoll.get(i), "poll " + i + " of " + pausedAtPoll.size() + " found partitions paused");
            }
        }
    }

    @Test
    void aStopBetweenPollsStillCommitsTheFinalCheckpointsOffsets(@TempDir Path tmp) throws Exception {
        SyntheticFeatures data = new SyntheticFeatures(10);
        kafka.createTopic("wakeup.features", 1);
        SyntheticFeatures.produce(kafka.bootstrapServers(), "wakeup.features", 1, stream(data, 1, 4, 32));
        OnlineTrainer[] self = new OnlineTrainer[1];
        TrainerListener stopAfterTwo = new TrainerListener() {
            @Override
            public void afterStep(long step, int partition, String from, String to, double loss) {
                // On the training thread, between steps: the consumer is not polling when stop() wakes it.
                if (step == 1) self[0].stop();
            }
        };
        try (CpuBackend backend = CpuBackend.create(data.model(32), 1);
             OnlineTrainer t = trainer(config("wakeup.", tmp, Map.of()), data, backend, new RecordingSink(), Clock.systemUTC(), stopAfterTwo)) {
            self[0] = t;
            // The commit used to fail with the pending wake-up and log so (the request may still reach the broker, so the
            // committed offset alone cannot tell); slf4j-simple writes to whatever System.err is at the time.
            java.io.ByteArrayOutputStream log = new java.io.ByteArrayOutputStream();
            java.io.PrintStream err = System.err;
            System.setErr(new java.io.PrintStream(log, true, java.nio.charset.StandardCharsets.UTF_8));
            try {
                t.run();
            } finally {
                System.setErr(err);
            }
            assertEquals(2, t.step());
            assertTrue(t.lastCheckpointDuration().toNanos() > 0, "the final checkpoint's duration is reported");
            String logged = log.toString(java.nio.charset.StandardCharsets.UTF_8);
            assertTrue(logged.contains("checkpoint ckpt-"), "the final checkpoint is logged (the capture works): " + logged);
            assertFalse(logged.contains("WakeupException"), logged);
        }
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
            Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets("wakeup.trainer")
                    .partitionsToOffsetAndMetadata().get();
            assertEquals(2L, committed.get(new TopicPartition("wakeup.features", 0)).offset(),
                    "the final checkpoint's position is committed although stop() had woken the consumer");
        }
    }

    @Test
    void aBusySinkGetsOneLaterDeltaWithEveryRowInsteadOfHoldingUpTraining(@TempDir Path tmp) throws IOException {
        SyntheticFeatures data = new SyntheticFeatures(11);
        kafka.createTopic("busy.features", 1);
        SyntheticFeatures.produce(kafka.bootstrapServers(), "busy.features", 1, stream(data, 1, 6, 32));
        MutableClock clock = new MutableClock(Instant.parse("2026-01-01T00:00:00Z"));
        boolean[] ready = {false};
        List<ModelDelta> deltas = new ArrayList<>();
        ModelSink busyThenReady = new ModelSink() {
            @Override
            public void delta(ModelDelta delta) {
                deltas.add(delta);
            }

            @Override
            public void full(ModelState state, dev.freshet.trainer.TrainingProgress progress) {
            }

            @Override
            public boolean readyForDelta() {
                return ready[0];
            }
        };
        ModelConfig model = data.model(32);
        try (CpuBackend backend = CpuBackend.create(model, 1);
             OnlineTrainer t = trainer(config("busy.", tmp, Map.of("trainer.delta-interval", "100ms")), data, backend, busyThenReady, clock,
                     new TrainerListener() { })) {
            t.start();
            clock.advance(Duration.ofSeconds(1)); // a DELTA is due from the first step on
            for (int i = 0; i < 300 && t.step() < 6; i++) t.runOnce();
            assertEquals(6, t.step(), "training went on while the sink was busy");
            assertTrue(deltas.isEmpty(), "nothing handed to a busy sink");
            ready[0] = true;
            t.runOnce();
            assertEquals(1, deltas.size());
            ModelDelta delta = deltas.get(0);
            assertEquals(192, delta.progress().trainedExamples(), "the one DELTA covers all six steps");
            // It holds exactly the rows the 192 examples looked up: the same seed gives the same examples again.
            SyntheticFeatures again = new SyntheticFeatures(11);
            List<TreeSet<Integer>> expected = new ArrayList<>();
            for (int table = 0; table < model.numTables(); table++) expected.add(new TreeSet<>());
            for (int r = 0; r < 6; r++) {
                Examples e = again.next(32);
                for (int b = 0; b < e.count; b++) {
                    for (int table = 0; table < model.numTables(); table++) expected.get(table).add(e.sparse[b * model.numTables() + table]);
                }
            }
            for (int table = 0; table < model.numTables(); table++) {
                TreeSet<Integer> got = new TreeSet<>();
                for (ModelDelta.TableRows rows : delta.rows()) {
                    if (rows.table() == table) for (int row : rows.rows()) got.add(row);
                }
                assertEquals(expected.get(table), got, "rows of table " + table);
            }
        }
    }

    @Test
    void refusesToResumeACheckpointOfAnotherModel(@TempDir Path tmp) throws IOException {
        SyntheticFeatures data = new SyntheticFeatures(7);
        TrainerConfig config = config("other.", tmp, Map.of());
        ModelConfig trained = data.model(16);
        ModelConfig now = data.model(32);
        try (HostModelState state = HostModelState.initialize(trained)) {
            new CheckpointStore(config.checkpointDir(), 2).write(state, 3, Map.of("trainer.topic", "other.features",
                    "trainer.layout-id", Long.toString(data.layout.id()), "trainer.step", "3", "trainer.trained-examples", "48",
                    "trainer.max-event-time", "0", "trainer.next-partition", "0", "trainer.position.0", "3:0"));
        }
        try (CpuBackend backend = CpuBackend.create(now, 1);
             OnlineTrainer t = trainer(config, data, backend, new RecordingSink(), Clock.systemUTC(), new TrainerListener() { })) {
            dev.freshet.config.ConfigException e = assertThrows(dev.freshet.config.ConfigException.class, t::start);
            assertTrue(e.getMessage().contains("restore the model.* settings"), e.getMessage());
        }
    }

    @Test
    void trainCommandReadsSettingsTrainsAndPrintsStatusLines(@TempDir Path tmp) throws Exception {
        SyntheticFeatures data = new SyntheticFeatures(5);
        kafka.createTopic("cmd.features", 1);
        SyntheticFeatures.produce(kafka.bootstrapServers(), "cmd.features", 1, stream(data, 1, 12, 32));
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        java.io.PrintStream out = new java.io.PrintStream(bytes, true, java.nio.charset.StandardCharsets.UTF_8);
        TrainCommand command = new TrainCommand(out, out);
        String[] args = {"--bootstrap", kafka.bootstrapServers(), "--backend", "cpu", "--checkpoint-dir", tmp.resolve("ck").toString(),
                "--set", "topics.prefix=cmd.", "--set", "trainer.publish-dir=" + tmp.resolve("pub"),
                "--set", "features.columns=" + data.layout.spec(), "--set", "model.embedding-dim=4", "--set", "model.bottom-mlp=8,4",
                "--set", "model.top-mlp=16,1", "--set", "model.batch-size=32", "--set", "trainer.status-interval=100ms",
                "--set", "trainer.stop-after-examples=384", "--set", "trainer.cpu.threads=1"};
        assertEquals(0, command.run(dev.freshet.config.CommandLine.parse(args, command.settings(), command.aliases(), Map.of())));
        String text = bytes.toString(java.nio.charset.StandardCharsets.UTF_8);
        System.out.print(text); // the command's own output, for the test log
        assertTrue(text.contains("cpu (1 thread)"), text);
        assertTrue(text.contains("stopped at step 12 with 384 examples trained"), text);
        assertTrue(text.lines().anyMatch(l -> l.startsWith("step ") && l.contains("AUC")), text);
        assertEquals(1, new CheckpointStore(tmp.resolve("ck"), 2).list().size());

        bytes.reset();
        assertEquals(0, command.run(dev.freshet.config.CommandLine.parse(new String[]{"--help"}, command.settings(), command.aliases(), Map.of())));
        assertTrue(bytes.toString(java.nio.charset.StandardCharsets.UTF_8).contains("trainer.checkpoint-interval"));
        dev.freshet.config.ConfigException bad = assertThrows(dev.freshet.config.ConfigException.class,
                () -> dev.freshet.config.CommandLine.parse(new String[]{"--set", "trainer.metric-window=5"}, command.settings(), command.aliases(), Map.of())
                        .config().get(TrainerConfig.METRIC_WINDOW));
        assertTrue(bad.getMessage().contains("trainer.metric-window"), bad.getMessage());
    }
}
