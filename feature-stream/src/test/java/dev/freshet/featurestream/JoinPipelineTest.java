package dev.freshet.featurestream;

import dev.freshet.features.Examples;
import dev.freshet.featurestream.internal.ClickDecoder;
import dev.freshet.featurestream.internal.DeadLetter;
import dev.freshet.featurestream.internal.FeatureRow;
import dev.freshet.featurestream.internal.ImpressionClickJoin;
import dev.freshet.featurestream.internal.RecordTypes;
import dev.freshet.featurestream.internal.SerializableLayout;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.IdFrequencyStats;
import dev.freshet.schemas.serde.AvroCodec;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.testutils.InMemoryReporter;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.types.Either;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.UnaryOperator;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The job's transform part on a real Flink MiniCluster, fed from memory with a watermark after every
 * event, so that "the window closed before this click arrived" is decided by input order alone.
 * Parallelism 1: with several subtasks, records and watermarks from different upstream subtasks
 * interleave nondeterministically, and whether a click is late would depend on thread timing.
 */
class JoinPipelineTest {
    private static final InMemoryReporter REPORTER = InMemoryReporter.createWithRetainedMetrics();

    @RegisterExtension
    static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setConfiguration(REPORTER.addToConfiguration(new Configuration()))
            .setNumberTaskManagers(1)
            .setNumberSlotsPerTaskManager(2)
            .build());

    private final FeatureStreamConfig config = TestEvents.config(Map.of());
    private final TestEvents events = new TestEvents(config.layout());
    private final FlinkCounters counters = new FlinkCounters(REPORTER);

    @Test
    void clickedUnclickedLateAndDuplicateEventsGiveExactlyTheExpectedLabelsAndCounters() throws Exception {
        // Event times in ms; label window 10 s; watermark = largest time seen - 1.
        List<ClickEvent> input = List.of(
                events.labeled("L1", 500, 1, "u1", "i1"),
                events.impression("A", 1_000, "u1", "i2"),
                events.impression("B", 2_000, "u2", "i2"),
                events.impression("C", 3_000, "u3", "i3"),
                events.impression("A", 1_000, "u1", "i2"),     // duplicate impression
                events.click("cA", 5_000, "A"),                // A clicked in its window -> 1
                events.labeled("L1", 500, 1, "u1", "i1"),      // duplicate labelled event
                events.click("cA", 5_000, "A"),                // duplicate click
                events.click("cA2", 6_000, "A"),               // second click on A: label stays 1
                events.labeled("X", 14_000, 0, "u4", "i2"),    // watermark 13999: B (12000) and C (13000) close -> 0
                events.click("cC", 9_000, "C"),                // in C's window by time, but after it closed: late
                events.click("cZ", 15_000, "Z"),               // no such impression: orphan
                events.impression("D", 15_000, "u5", "i2"),    // never clicked; closes at end of input -> 0
                events.impression("E", 16_000, "u6", "i2"),
                events.click("cE", 17_000, "E"),               // -> 1
                events.click("cF", 18_500, "F"),               // click overtakes its impression
                events.impression("F", 18_000, "u7", "i2"),    // -> 1 at once
                events.click("cG", 30_000, "G"),               // overtakes its impression, but 11.5 s after it: late
                events.impression("G", 18_500, "u8", "i2"));   // -> 0

        Run run = run(input, 1);

        Map<String, Integer> labels = TestEvents.labels(TestEvents.decodeBatches(run.batches, config.layout()));
        assertEquals(Map.of("L1", 1, "A", 1, "B", 0, "C", 0, "X", 0, "D", 0, "E", 1, "F", 1, "G", 0), labels);

        assertEquals(3, counters.get(run.job.getJobID(), FeatureJobMetrics.DUPLICATES), "A, L1 and cA repeated");
        assertEquals(3, counters.get(run.job.getJobID(), FeatureJobMetrics.IMPRESSIONS_CLICKED), "A, E, F");
        assertEquals(4, counters.get(run.job.getJobID(), FeatureJobMetrics.IMPRESSIONS_UNCLICKED), "B, C, D, G");
        assertEquals(2, counters.get(run.job.getJobID(), FeatureJobMetrics.LATE_CLICKS), "cC, cG");
        assertEquals(1, counters.get(run.job.getJobID(), FeatureJobMetrics.ORPHAN_CLICKS), "cZ");
        assertEquals(1, counters.get(run.job.getJobID(), FeatureJobMetrics.REPEAT_CLICKS), "cA2");
        assertEquals(9, counters.get(run.job.getJobID(), FeatureJobMetrics.EXAMPLES));
        assertEquals(3, counters.get(run.job.getJobID(), FeatureJobMetrics.DEAD_LETTERS));

        // Each letter carries the click's original record (bytes and position), as the decoder's letters do:
        // the in-memory source numbers records from 0 in input order.
        Map<Long, String> letters = run.deadLetters.stream().collect(Collectors.toMap(d -> d.sourceOffset, d -> d.category));
        assertEquals(Map.of(10L, ImpressionClickJoin.LATE_CLICK, 11L, ImpressionClickJoin.ORPHAN_CLICK, 17L, ImpressionClickJoin.LATE_CLICK),
                letters, "cC late after its window closed, cZ orphan, cG late while waiting for its impression");
        for (DeadLetter letter : run.deadLetters) {
            int at = (int) letter.sourceOffset;
            assertArrayEquals(events.encode(input.get(at)), letter.value, "original bytes of " + input.get(at).getEventId());
            assertEquals("memory", letter.sourceTopic);
            assertEquals(0, letter.sourcePartition);
        }
        DeadLetter late = run.deadLetters.stream().filter(d -> d.sourceOffset == 10).findFirst().orElseThrow();
        assertTrue(late.reason.contains("click cC") && late.reason.contains("impression C") && late.reason.contains("feature-stream.label-window"),
                late.reason);
    }

    /**
     * At parallelism 1 the dedup reads the decoded rows in the source's own task (reinterpreted as keyed), at 2
     * behind a keyBy (the rows spread over two subtasks first): the same copies are dropped either way. Every
     * event time lies within the 1-minute window, so no entry expires and the result does not depend on timing.
     */
    @ParameterizedTest(name = "parallelism {0}")
    @ValueSource(ints = {1, 2})
    void copiesOfAnEventWithinTheDedupWindowAreDropped(int parallelism) throws Exception {
        Random random = new Random(7);
        List<ClickEvent> input = new ArrayList<>();
        Map<String, Integer> expected = new HashMap<>();
        for (int i = 0; i < 200; i++) {
            int label = random.nextInt(2);
            input.add(events.labeled("d" + i, 1_000 + i * 100L, label, "u" + random.nextInt(5), "i" + random.nextInt(5)));
            expected.put("d" + i, label);
            if (random.nextInt(4) == 0) input.add(input.get(random.nextInt(input.size())));
        }
        int copies = input.size() - 200;
        assertTrue(copies > 30, "the seed gives " + copies + " copies");

        Run run = run(input, parallelism);

        assertEquals(expected, TestEvents.labels(TestEvents.decodeBatches(run.batches, config.layout())), "each event once");
        assertEquals(copies, counters.get(run.job.getJobID(), FeatureJobMetrics.DUPLICATES));
        assertEquals(200, counters.get(run.job.getJobID(), FeatureJobMetrics.EXAMPLES));
    }

    @Test
    void idStatisticsCountEveryLookupPerTableAndWindow() throws Exception {
        // Window [0, 10s): users u1 x3, u2 x1; items i1 x4. Window [10s, 20s): u1 x1, item i2 x1.
        List<ClickEvent> input = List.of(
                events.labeled("s1", 1_000, 0, "u1", "i1"),
                events.labeled("s2", 2_000, 1, "u1", "i1"),
                events.labeled("s3", 3_000, 0, "u2", "i1"),
                events.labeled("s4", 4_000, 0, "u1", "i1"),
                events.labeled("s5", 12_000, 1, "u1", "i2"));
        Run run = run(input, 2);

        AvroCodec<IdFrequencyStats> codec = new AvroCodec<>(IdFrequencyStats.class);
        Map<String, IdFrequencyStats> byKey = run.stats.stream().map(codec::decode)
                .collect(Collectors.toMap(s -> s.getTable() + "@" + s.getWindowStart().toEpochMilli(), s -> s));
        assertEquals(4, byKey.size(), "2 tables x 2 windows: " + byKey.keySet());
        var transform = new dev.freshet.features.FeatureTransform(config.layout());
        IdFrequencyStats users = byKey.get("user@0");
        assertEquals(4, users.getTotalCount());
        assertEquals(10_000, users.getWindowEnd().toEpochMilli());
        assertEquals(List.of((long) transform.row(0, "u1"), (long) transform.row(0, "u2")), users.getRows());
        assertEquals(List.of(3L, 1L), users.getCounts());
        IdFrequencyStats items = byKey.get("item@0");
        assertEquals(List.of((long) transform.row(1, "i1")), items.getRows());
        assertEquals(List.of(4L), items.getCounts());
        assertEquals(List.of(1L), byKey.get("item@10000").getCounts());
        assertEquals(5, counters.get(run.job.getJobID(), FeatureJobMetrics.EXAMPLES));
        assertEquals(4, counters.get(run.job.getJobID(), FeatureJobMetrics.STATS_WINDOWS));
    }

    @Test
    void badRecordsGoToTheDeadLetterOutputWithTheirReasonAndTheJobGoesOn() throws Exception {
        var other = TestEvents.config(Map.of("features.columns", "label:label,clicks:count,user:categorical:1000"));
        TestEvents otherLayout = new TestEvents(other.layout());
        ClickEvent nan = events.labeled("nan", 2_000, 0, "u1", "i1");
        nan.getDense().set(1, Double.NaN);
        List<byte[]> input = new ArrayList<>();
        input.add(events.encode(events.labeled("ok1", 1_000, 1, "u1", "i1")));
        input.add(new byte[]{1, 2, 3, 4, 5});                                                         // not a ClickEvent
        input.add(events.encode(nan));                                                               // out of range
        input.add(events.encode(events.labeled("two", 3_000, 2, "u1", "i1")));                      // label 2
        input.add(otherLayout.encode(otherLayout.event("alien", 4_000, dev.freshet.schemas.EventKind.LABELED, null, 1, "u1", null)));
        input.add(events.encode(events.labeled("ok2", 5_000, 0, "u2", "i2")));

        Run run = runBytes(input, 2);

        assertEquals(Map.of("ok1", 1, "ok2", 0), TestEvents.labels(TestEvents.decodeBatches(run.batches, config.layout())));
        Map<String, DeadLetter> byCategory = new java.util.HashMap<>();
        run.deadLetters.forEach(d -> byCategory.merge(d.category, d, (a, b) -> a.reason.compareTo(b.reason) < 0 ? a : b));
        assertEquals(4, run.deadLetters.size(), run.deadLetters.toString());
        assertTrue(byCategory.get(ClickDecoder.UNDECODABLE).reason.contains("C3 01"), byCategory.toString());
        List<String> invalid = run.deadLetters.stream().filter(d -> d.category.equals(ClickDecoder.INVALID_VALUE)).map(d -> d.reason).sorted().toList();
        assertEquals(2, invalid.size(), invalid.toString());
        assertTrue(invalid.stream().anyMatch(r -> r.contains("dense feature price of event nan is NaN")), invalid.toString());
        assertTrue(invalid.stream().anyMatch(r -> r.contains("LABELED event two has label 2; allowed 0 or 1")), invalid.toString());
        String unknown = byCategory.get(ClickDecoder.UNKNOWN_LAYOUT).reason;
        assertTrue(unknown.contains(String.format("%016x", other.layout().id())) && unknown.contains(String.format("%016x", config.layout().id())), unknown);
        assertEquals(byCategory.get(ClickDecoder.UNDECODABLE).value.length, 5, "the original bytes travel with the letter");

        var job = run.job.getJobID();
        assertEquals(4, counters.get(job, FeatureJobMetrics.DEAD_LETTERS));
        assertEquals(1, counters.get(job, FeatureJobMetrics.DEAD_LETTERS + "." + ClickDecoder.UNDECODABLE));
        assertEquals(2, counters.get(job, FeatureJobMetrics.DEAD_LETTERS + "." + ClickDecoder.INVALID_VALUE));
        assertEquals(1, counters.get(job, FeatureJobMetrics.DEAD_LETTERS + "." + ClickDecoder.UNKNOWN_LAYOUT));
        assertEquals(2, counters.get(job, FeatureJobMetrics.EXAMPLES));
    }

    private record Run(JobExecutionResult job, List<byte[]> batches, List<byte[]> stats, List<DeadLetter> deadLetters) {
    }

    private Run run(List<ClickEvent> input, int parallelism) throws Exception {
        return runBytes(input.stream().map(events::encode).toList(), parallelism);
    }

    private Run runBytes(List<byte[]> input, int parallelism) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(parallelism);
        DataStream<Either<FeatureRow, DeadLetter>> decoded = env.fromData(RecordTypes.BYTES, input.toArray(new byte[0][])).setParallelism(1)
                .map(new Decode(config), RecordTypes.DECODED).setParallelism(1)
                .assignTimestampsAndWatermarks(watermarkAfterEveryEvent()).setParallelism(1);
        FeatureJob.Outputs out = FeatureJob.transform(decoded, config, UnaryOperator.identity());
        CloseableIterator<byte[]> batches = out.batches().collectAsync();
        CloseableIterator<byte[]> stats = out.stats().collectAsync();
        CloseableIterator<DeadLetter> letters = out.deadLetters().collectAsync();
        JobExecutionResult result = env.execute("join test");
        return new Run(result, drain(batches), drain(stats), drain(letters));
    }

    private static <T> List<T> drain(CloseableIterator<T> it) throws Exception {
        List<T> out = new ArrayList<>();
        try (it) {
            it.forEachRemaining(out::add);
        }
        return out;
    }

    /** Decodes in-memory records with the job's own decoder, as the Kafka source does. */
    private static final class Decode extends RichMapFunction<byte[], Either<FeatureRow, DeadLetter>> {
        private final SerializableLayout layout;
        private transient ClickDecoder decoder;
        private long offset;

        Decode(FeatureStreamConfig config) {
            this.layout = SerializableLayout.of(config.layout());
        }

        @Override
        public void open(OpenContext context) {
            decoder = new ClickDecoder(layout.layout());
        }

        @Override
        public Either<FeatureRow, DeadLetter> map(byte[] value) {
            return decoder.decode(null, value, "memory", 0, offset++);
        }
    }

    private static WatermarkStrategy<Either<FeatureRow, DeadLetter>> watermarkAfterEveryEvent() {
        return WatermarkStrategy.<Either<FeatureRow, DeadLetter>>forGenerator(ctx -> new WatermarkGenerator<>() {
            private long max = Long.MIN_VALUE + 1;

            @Override
            public void onEvent(Either<FeatureRow, DeadLetter> e, long timestamp, WatermarkOutput output) {
                if (e.isLeft()) {
                    max = Math.max(max, e.left().eventTime);
                    output.emitWatermark(new Watermark(max - 1));
                }
            }

            @Override
            public void onPeriodicEmit(WatermarkOutput output) {
            }
        }).withTimestampAssigner((e, t) -> e.isLeft() ? e.left().eventTime : Long.MIN_VALUE);
    }
}
