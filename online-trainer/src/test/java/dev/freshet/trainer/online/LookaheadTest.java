package dev.freshet.trainer.online;

import dev.freshet.config.ConfigSource;
import dev.freshet.features.Examples;
import dev.freshet.kafka.junit.EmbeddedKafkaExtension;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.StepResult;
import dev.freshet.trainer.TrainerBackend;
import dev.freshet.trainer.TrainingProgress;
import dev.freshet.trainer.checkpoint.CheckpointStore;
import dev.freshet.trainer.cpu.CpuBackend;
import dev.freshet.trainer.host.HostModelState;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The loop's lookahead ({@link TrainerBackend#prefetch}) against a real in-process broker and the real CPU
 * backend: every batch named is the one trained next, unchanged, and the steps, checkpoints and weights are
 * those of a run without lookahead.
 */
class LookaheadTest {
    @RegisterExtension
    static final EmbeddedKafkaExtension kafka = new EmbeddedKafkaExtension();

    /**
     * The CPU backend, checking the prefetch contract as a GPU cache relies on it: the batch named before
     * train k is the very object train k+1 receives, with the contents it had when named, and no buffer is
     * named, or trained, while another step's named batch still lives in it. Records a copy of every
     * trained batch.
     */
    static final class PrefetchCheckingBackend implements TrainerBackend {
        final CpuBackend inner;
        final List<Examples> trained = new ArrayList<>();
        final List<String> violations = new ArrayList<>();
        int prefetches;
        int honoured;
        /** Named batches not trained yet, oldest first. */
        private final ArrayDeque<Named> named = new ArrayDeque<>();
        private int trains;

        private record Named(Examples batch, Examples contents, int dueAt) {
        }

        PrefetchCheckingBackend(CpuBackend inner) {
            this.inner = inner;
        }

        @Override
        public void prefetch(Examples next) {
            for (Named n : named) {
                if (n.batch() == next) violations.add("prefetch before train " + trains + " names the buffer already named for train " + n.dueAt());
            }
            named.addLast(new Named(next, copy(next), trains + 1));
            prefetches++;
        }

        @Override
        public StepResult train(Examples batch, float[] outProbabilities) {
            Named due = named.peekFirst();
            if (due != null && due.dueAt() < trains) {
                violations.add("the batch named for train " + due.dueAt() + " was never trained");
                named.removeFirst();
                due = named.peekFirst();
            }
            if (due != null && due.dueAt() == trains) {
                named.removeFirst();
                if (batch != due.batch()) violations.add("train " + trains + " received another buffer than the one named for it");
                else if (!same(batch, due.contents())) violations.add("the batch named for train " + trains + " changed before it trained");
                else honoured++;
            }
            for (Named n : named) {
                if (n.batch() == batch) violations.add("train " + trains + " received the buffer named for train " + n.dueAt());
            }
            StepResult r = inner.train(batch, outProbabilities);
            trained.add(copy(batch));
            trains++;
            return r;
        }

        /** A named batch still waiting for its step. */
        Named pending() {
            return named.peekFirst();
        }

        @Override
        public void load(ModelState source) {
            named.clear(); // as the CUDA backend does: a load drops lookahead plans
            inner.load(source);
        }

        @Override public String description() { return "prefetch-checking " + inner.description(); }
        @Override public ModelConfig config() { return inner.config(); }
        @Override public void predict(Examples batch, float[] out) { inner.predict(batch, out); }
        @Override public ModelState state() { return inner.state(); }
        @Override public void close() { inner.close(); }
    }

    static Examples copy(Examples e) {
        Examples c = new Examples(Math.max(1, e.count), e.numDense, e.numSparse);
        System.arraycopy(e.labels, 0, c.labels, 0, e.count);
        System.arraycopy(e.dense, 0, c.dense, 0, e.count * e.numDense);
        System.arraycopy(e.sparse, 0, c.sparse, 0, e.count * e.numSparse);
        System.arraycopy(e.eventTimes, 0, c.eventTimes, 0, e.count);
        c.count = e.count;
        c.layoutId = e.layoutId;
        return c;
    }

    static boolean same(Examples a, Examples b) {
        return a.count == b.count && a.layoutId == b.layoutId
                && Arrays.equals(a.labels, 0, a.count, b.labels, 0, b.count)
                && Arrays.equals(a.dense, 0, a.count * a.numDense, b.dense, 0, b.count * b.numDense)
                && Arrays.equals(a.sparse, 0, a.count * a.numSparse, b.sparse, 0, b.count * b.numSparse)
                && Arrays.equals(a.eventTimes, 0, a.count, b.eventTimes, 0, b.count);
    }

    /** What one run did: its steps as the listener saw them, and every checkpoint's step and positions. */
    static final class Trace implements TrainerListener {
        final List<String> steps = new ArrayList<>();
        final List<Map<String, String>> checkpoints = new ArrayList<>();

        @Override
        public void afterStep(long step, int partition, String from, String to, double loss) {
            steps.add(step + " p" + partition + " " + from + ".." + to);
        }

        @Override
        public void checkpointWritten(CheckpointStore.Checkpoint checkpoint) {
            Map<String, String> m = new TreeMap<>();
            checkpoint.metadata().forEach((k, v) -> {
                if (k.startsWith(OnlineTrainer.META_POSITION) || k.equals(OnlineTrainer.META_STEP) || k.equals(OnlineTrainer.META_NEXT_PARTITION)) {
                    m.put(k, v);
                }
            });
            checkpoints.add(m);
        }
    }

    private static void run(TrainerConfig config, SyntheticFeatures data, TrainerBackend backend, Trace trace, boolean lookahead)
            throws IOException {
        try (OnlineTrainer t = OnlineTrainer.builder(config, backend.config(), data.layout.id())
                .backend(backend).sink(new RecordingSink()).clock(Clock.systemUTC()).listener(trace).lookahead(lookahead)
                .consumer(new KafkaConsumer<>(OnlineTrainer.consumerProperties(config)))
                .stateAllocator(HostModelState::allocate)
                .build()) {
            t.run();
        }
    }

    @Test
    void roundRobinTrainsTheSameStepsCheckpointsAndWeightsWithAndWithoutLookahead(@TempDir Path tmp) throws IOException {
        // 24-example records and 32-example batches: batches end inside records; 3 partitions take turns.
        SyntheticFeatures data = new SyntheticFeatures(11);
        ModelConfig model = data.model(32);
        kafka.createTopic("ahead-rr.features", 3);
        SyntheticFeatures.produce(kafka.bootstrapServers(), "ahead-rr.features", 3, OnlineTrainerTest.stream(data, 3, 12, 24));
        int total = 3 * 12 * 24;
        Map<String, String> settings = Map.of("trainer.stop-after-examples", Integer.toString(total), "trainer.checkpoint-events", "160");

        Trace withTrace = new Trace();
        Trace withoutTrace = new Trace();
        try (PrefetchCheckingBackend with = new PrefetchCheckingBackend(CpuBackend.create(model, 1));
             PrefetchCheckingBackend without = new PrefetchCheckingBackend(CpuBackend.create(model, 1))) {
            run(config("ahead-rr.", tmp.resolve("with"), merge(settings, "trainer.group-id", "with")), data, with, withTrace, true);
            run(config("ahead-rr.", tmp.resolve("without"), merge(settings, "trainer.group-id", "without")), data, without,
                    withoutTrace, false);

            assertEquals(List.of(), with.violations);
            assertTrue(with.prefetches > 0, "the loop never looked ahead");
            assertEquals(with.prefetches, with.honoured, "every named batch trained next");
            assertNull(with.pending(), "nothing named after the last step (the loop stops there)");
            assertEquals(0, without.prefetches);

            assertEquals(total / 32, with.trained.size());
            assertEquals(without.trained.size(), with.trained.size());
            for (int i = 0; i < with.trained.size(); i++) {
                assertTrue(same(without.trained.get(i), with.trained.get(i)), "batch of step " + i);
            }
            assertEquals(withoutTrace.steps, withTrace.steps);
            assertTrue(withTrace.checkpoints.size() >= 5, "checkpoints every 160 examples: " + withTrace.checkpoints);
            assertEquals(withoutTrace.checkpoints, withTrace.checkpoints);
            OnlineTrainerTest.assertSameModel(without.state(), with.state());
        }
        try (ModelState a = newestCheckpoint(tmp.resolve("with")); ModelState b = newestCheckpoint(tmp.resolve("without"))) {
            OnlineTrainerTest.assertSameModel(b, a);
        }
    }

    @Test
    void arrivalOrderWithLookaheadTrainsEveryFullBatchOnceInPartitionOrder(@TempDir Path tmp) throws IOException {
        // Uneven partitions of 20-example records, 16-example batches: 12, 5 and 8 full batches.
        SyntheticFeatures data = new SyntheticFeatures(12);
        ModelConfig model = data.model(16);
        int[] records = {10, 4, 7};
        List<List<byte[]>> values = new ArrayList<>();
        List<List<Long>> eventTimes = new ArrayList<>();
        for (int p = 0; p < records.length; p++) {
            values.add(new ArrayList<>());
            eventTimes.add(new ArrayList<>());
        }
        for (int i = 0; i < 10; i++) {
            for (int p = 0; p < records.length; p++) {
                if (i >= records[p]) continue;
                Examples e = data.next(20);
                values.get(p).add(data.encode(e));
                for (int k = 0; k < e.count; k++) eventTimes.get(p).add(e.eventTimes[k]);
            }
        }
        kafka.createTopic("ahead-arrival.features", 3);
        SyntheticFeatures.produce(kafka.bootstrapServers(), "ahead-arrival.features", 3, values);
        int fullBatches = 0;
        for (int r : records) fullBatches += r * 20 / 16;

        Trace trace = new Trace();
        try (PrefetchCheckingBackend backend = new PrefetchCheckingBackend(CpuBackend.create(model, 1))) {
            run(config("ahead-arrival.", tmp, Map.of("trainer.step-order", "arrival",
                    "trainer.stop-after-examples", Integer.toString(fullBatches * 16))), data, backend, trace, true);

            assertEquals(List.of(), backend.violations);
            assertTrue(backend.prefetches > 0, "the loop never looked ahead");
            assertEquals(backend.prefetches, backend.honoured);
            assertEquals(fullBatches, backend.trained.size());

            // Each partition's examples, in the order its batches trained, are its records' examples in offset order.
            List<List<Long>> trainedTimes = new ArrayList<>();
            for (int p = 0; p < records.length; p++) trainedTimes.add(new ArrayList<>());
            for (int s = 0; s < backend.trained.size(); s++) {
                int p = Integer.parseInt(trace.steps.get(s).split(" ")[1].substring(1));
                Examples b = backend.trained.get(s);
                for (int k = 0; k < b.count; k++) trainedTimes.get(p).add(b.eventTimes[k]);
            }
            for (int p = 0; p < records.length; p++) {
                int full = records[p] * 20 / 16 * 16;
                assertEquals(eventTimes.get(p).subList(0, full), trainedTimes.get(p), "partition " + p);
            }
        }
        Map<String, String> last = trace.checkpoints.get(trace.checkpoints.size() - 1);
        assertEquals("9:12", last.get(OnlineTrainer.META_POSITION + 0), "192 of partition 0's 200 examples trained");
        assertEquals("4:0", last.get(OnlineTrainer.META_POSITION + 1));
        assertEquals("6:8", last.get(OnlineTrainer.META_POSITION + 2), "128 of 140");
    }

    @Test
    void aPromotionBetweenStepsDropsTheLookaheadAndTrainsFromThePromotedPositions(@TempDir Path tmp) throws IOException {
        SyntheticFeatures data = new SyntheticFeatures(13);
        ModelConfig model = data.model(32);
        List<List<byte[]>> values = new ArrayList<>();
        List<List<Long>> eventTimes = new ArrayList<>();
        for (int p = 0; p < 2; p++) {
            values.add(new ArrayList<>());
            eventTimes.add(new ArrayList<>());
        }
        for (int i = 0; i < 12; i++) {
            for (int p = 0; p < 2; p++) {
                Examples e = data.next(24);
                values.get(p).add(data.encode(e));
                for (int k = 0; k < e.count; k++) eventTimes.get(p).add(e.eventTimes[k]);
            }
        }
        kafka.createTopic("ahead-promote.features", 2);
        SyntheticFeatures.produce(kafka.bootstrapServers(), "ahead-promote.features", 2, values);
        TrainerConfig config = config("ahead-promote.", tmp, Map.of("trainer.stop-after-examples", "320"));

        Trace trace = new Trace();
        AtomicReference<OnlineTrainer> trainer = new AtomicReference<>();
        Map<TopicPartition, Long> promotedAt = new HashMap<>();
        boolean[] lookaheadPending = new boolean[1];
        try (PrefetchCheckingBackend backend = new PrefetchCheckingBackend(CpuBackend.create(model, 1));
             CpuBackend candidate = CpuBackend.create(model, 1)) {
            TrainerListener promoteAfterStep4 = new TrainerListener() {
                @Override
                public void afterStep(long step, int partition, String from, String to, double loss) {
                    trace.afterStep(step, partition, from, to, loss);
                    if (step != 4) return;
                    // On the training thread, between steps: the batch of step 5 is already named to the backend.
                    lookaheadPending[0] = backend.pending() != null;
                    OnlineTrainer t = trainer.get();
                    promotedAt.putAll(t.position());
                    Map<String, Long> offsets = new TreeMap<>();
                    promotedAt.forEach((tp, o) -> offsets.put(tp.toString(), o));
                    t.promote(candidate.state(), new TrainingProgress(offsets, t.trainedExamples(), Map.of(), 0));
                }
            };
            try (OnlineTrainer t = OnlineTrainer.builder(config, model, data.layout.id())
                    .backend(backend).sink(new RecordingSink()).clock(Clock.systemUTC()).listener(promoteAfterStep4)
                    .consumer(new KafkaConsumer<>(OnlineTrainer.consumerProperties(config)))
                    .stateAllocator(HostModelState::allocate)
                    .build()) {
                trainer.set(t);
                t.run();
            }

            assertTrue(lookaheadPending[0], "a lookahead was pending when the promotion came");
            assertEquals(List.of(), backend.violations);
            assertEquals(backend.prefetches - 1, backend.honoured, "only the lookahead dropped by the promotion went untrained");
            // Step 5 takes partition 1's turn (steps alternate 0, 1, ...), from the promoted offset's first example.
            long offset = promotedAt.get(new TopicPartition("ahead-promote.features", 1));
            assertTrue(trace.steps.get(5).startsWith("5 p1 " + offset + ":0.."), trace.steps.get(5));
            Examples step5 = backend.trained.get(5);
            int first = (int) offset * 24;
            assertEquals(eventTimes.get(1).subList(first, first + 32), Arrays.stream(step5.eventTimes, 0, step5.count).boxed().toList());
        }
    }

    private static TrainerConfig config(String prefix, Path dir, Map<String, String> extra) {
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

    private static Map<String, String> merge(Map<String, String> base, String key, String value) {
        Map<String, String> m = new TreeMap<>(base);
        m.put(key, value);
        return m;
    }

    private static ModelState newestCheckpoint(Path dir) throws IOException {
        return new CheckpointStore(dir.resolve("checkpoints"), 2).loadNewest(HostModelState::allocate).orElseThrow().state();
    }
}
