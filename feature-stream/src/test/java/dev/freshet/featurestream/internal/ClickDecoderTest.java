package dev.freshet.featurestream.internal;

import dev.freshet.features.FeatureLayout;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.EventKind;
import dev.freshet.schemas.serde.AvroCodec;
import org.apache.flink.types.Either;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The job's decoder on real Criteo rows: encoded ClickEvent bytes in, model inputs out, with the exact
 * values FeatureTransformTest pins for the same lines (so that the job and serving agree), and every
 * kind of bad record turned into a dead letter naming the offending value.
 */
class ClickDecoderTest {
    private static final FeatureLayout CRITEO = FeatureLayout.criteo(100_000);
    private static List<String> sample;

    private final AvroCodec<ClickEvent> codec = new AvroCodec<>(ClickEvent.class);
    private final ClickDecoder decoder = new ClickDecoder(CRITEO);

    @BeforeAll
    static void readSample() throws IOException {
        String dir = System.getProperty("freshet.shared.dir");
        Path file = dir == null ? null : Path.of(dir, "data", "criteo-kaggle-sample-10k.tsv");
        sample = file != null && Files.isRegularFile(file) ? Files.readAllLines(file, StandardCharsets.UTF_8) : null;
    }

    @Test
    void firstSampleLine() {
        check(1, 0,
                new float[]{0.6931472f, 0.6931472f, 1.7917595f, 0.0f, 7.2320104f, 1.609438f, 2.7725887f, 1.0986123f, 5.2040067f,
                        0.6931472f, 1.0986123f, 0.0f, 1.0986123f},
                new int[]{7583, 90905, 77301, 54365, 92587, 62809, 97486, 23176, 25324, 51477, 78885, 32394, 38362, 83508, 21655,
                        76908, 28522, 39663, 6106, 31711, 13026, 10651, 51494, 44950, 40387, 72490});
    }

    @Test
    void thirdSampleLine() {
        check(3, 0,
                new float[]{1.0986123f, 0.0f, 0.6931472f, 2.7080503f, 6.64379f, 4.4998097f, 1.609438f, 1.0986123f, 5.5053315f,
                        0.6931472f, 1.3862944f, 1.3862944f, 3.8286414f},
                new int[]{65493, 21685, 23330, 83955, 92587, 62809, 26997, 18671, 25324, 94650, 69015, 4339, 18578, 2165, 61760,
                        78534, 71490, 53020, 84324, 49886, 68530, 51561, 51494, 74019, 7514, 95078});
    }

    @Test
    void lastSampleLine() {
        check(10_109, 0,
                new float[]{0.0f, 2.6390574f, 3.0445225f, 2.1972246f, 6.4473057f, 4.1743875f, 1.9459101f, 2.7725887f, 4.882802f,
                        0.0f, 1.3862944f, 0.0f, 2.6390574f},
                new int[]{27935, 56061, 43304, 54061, 92587, 62809, 46278, 18671, 25324, 17844, 52113, 3523, 80604, 40225, 25515,
                        36164, 34354, 97882, 6106, 99831, 84869, 47467, 58638, 48548, 42223, 84520});
    }

    @Test
    void everySampleLineDecodesWithItsLabel() {
        assumeTrue(sample != null, "skipped: ../shared/data/criteo-kaggle-sample-10k.tsv not found (system property freshet.shared.dir)");
        int positives = 0;
        for (int n = 1; n <= sample.size(); n++) {
            FeatureRow row = decodeLine(n);
            assertEquals(13, row.dense.length);
            assertEquals(26, row.sparse.length);
            positives += row.label;
        }
        assertEquals(2_198, positives, "the sample's documented positive count");
    }

    @Test
    void theFastPathTakesEverySampleLineAndAgreesWithTheGenericAvroPath() {
        assumeTrue(sample != null, "skipped: ../shared/data/criteo-kaggle-sample-10k.tsv not found (system property freshet.shared.dir)");
        FastClickReader fast = new FastClickReader(new dev.freshet.features.FeatureTransform(CRITEO), CRITEO.id(), 13, 26);
        for (int n = 1; n <= sample.size(); n++) {
            byte[] bytes = codec.encode(lineEvent(n));
            FeatureRow quick = fast.read(bytes);
            assertNotNull(quick, "line " + n + " left the fast path");
            assertSameRow(decoder.decodeGeneric(null, bytes, "clicks", 0, n).left(), quick, "line " + n);
        }
    }

    @Test
    void theFastPathLeavesWhatItIsNotSureOfToTheGenericPath() {
        FastClickReader fast = new FastClickReader(new dev.freshet.features.FeatureTransform(CRITEO), CRITEO.id(), 13, 26);
        List<String> cat = cat26();
        cat.set(3, "caf\u00e9");
        cat.set(4, null);
        List<Double> dense = dense13();
        dense.set(2, null);
        ClickEvent unicode = event("u", 9, EventKind.IMPRESSION, null, dense, cat);
        byte[] bytes = codec.encode(unicode);
        assertEquals(null, fast.read(bytes), "non-ASCII value: generic path");
        FeatureRow generic = decoder.decode(null, bytes, "clicks", 0, 0).left();
        assertEquals(new dev.freshet.features.FeatureTransform(CRITEO).row(3, "caf\u00e9"), generic.sparse[3]);
        cat.set(3, "cafe");
        FeatureRow quick = fast.read(codec.encode(event("u", 9, EventKind.IMPRESSION, null, dense, cat)));
        assertSameRow(decoder.decodeGeneric(null, codec.encode(event("u", 9, EventKind.IMPRESSION, null, dense, cat)), "c", 0, 0).left(), quick, "nulls");
        ClickEvent click = event("c1", 10, EventKind.CLICK, null, List.of(), List.of());
        click.setImpressionId("imp-7");
        assertSameRow(decoder.decodeGeneric(null, codec.encode(click), "c", 0, 0).left(), fast.read(codec.encode(click)), "click");
        List<Double> bad = dense13();
        bad.set(1, Double.NaN);
        assertEquals(null, fast.read(codec.encode(event("n", 1, EventKind.LABELED, 1, bad, cat26()))), "NaN: generic path words the reason");
        byte[] good = codec.encode(event("t", 1, EventKind.LABELED, 1, dense13(), cat26()));
        assertEquals(null, fast.read(Arrays.copyOf(good, good.length - 3)), "truncated");
        assertEquals(null, fast.read(Arrays.copyOf(good, good.length + 1)), "trailing byte");
    }

    /** The fast path hashes an ASCII id from its bytes; it must agree with the String hash, and a non-ASCII id still decodes. */
    @Test
    void theFastPathHashesIdsExactlyAsTheStringHash() {
        FastClickReader fast = new FastClickReader(new dev.freshet.features.FeatureTransform(CRITEO), CRITEO.id(), 13, 26);
        for (String id : List.of("criteo:0", "x", "\u007f~ !", "caf\u00e9:1", "\u4e2d\u6587", "emoji-\ud83d\ude00")) {
            byte[] bytes = codec.encode(event(id, 3, EventKind.LABELED, 1, dense13(), cat26()));
            FeatureRow quick = fast.read(bytes);
            assertNotNull(quick, id);
            assertEquals(id, quick.eventId);
            assertEquals(ClickDecoder.idHash(id), quick.eventIdHash, id);
            assertSameRow(decoder.decodeGeneric(null, bytes, "c", 0, 0).left(), quick, id);
        }
        byte[] ascii = "criteo:42".getBytes(StandardCharsets.US_ASCII);
        assertEquals(ClickDecoder.idHash("criteo:42"), ClickDecoder.idHashAscii(ascii, 0, ascii.length));
    }

    /** The fast path looks small whole dense values up in a table; at the table's edges it must give the transform's own bits. */
    @Test
    void theFastPathsDenseLookupGivesExactlyTheTransformsValues() {
        FeatureLayout layout = FeatureLayout.parse("n:numeric,c:count,k:categorical:100", 1);
        dev.freshet.features.FeatureTransform transform = new dev.freshet.features.FeatureTransform(layout);
        FastClickReader fast = new FastClickReader(transform, layout.id(), 2, 1);
        double[] values = {-0.0, 0.0, 1.0, 7.0, FastClickReader.SMALL - 1, FastClickReader.SMALL - 0.5, FastClickReader.SMALL,
                -1.0, 0.5, 25.0, 1e9, -3e9};
        for (double v : values) {
            ClickEvent e = ClickEvent.newBuilder().setEventId("d" + v).setEventTime(Instant.ofEpochMilli(5)).setKind(EventKind.LABELED)
                    .setLabel(0).setLayoutId(layout.id()).setDense(Arrays.asList(v, v)).setCategorical(Arrays.asList("x")).build();
            FeatureRow row = fast.read(codec.encode(e));
            assertNotNull(row, "value " + v);
            assertEquals(Float.floatToRawIntBits(transform.dense(0, v)), Float.floatToRawIntBits(row.dense[0]), "numeric " + v);
            assertEquals(Float.floatToRawIntBits(transform.dense(1, v)), Float.floatToRawIntBits(row.dense[1]), "count " + v);
        }
        assertEquals(Float.floatToRawIntBits(-0.0f), Float.floatToRawIntBits(transform.dense(0, -0.0)), "a numeric -0.0 keeps its sign");
    }

    private static void assertSameRow(FeatureRow want, FeatureRow got, String what) {
        FeatureRowAssertions.assertSameRow(want, got, what, false);
    }

    @Test
    void bytesThatAreNotAClickEventAreADeadLetterWithTheirBytesAndPosition() {
        byte[] junk = "hello".getBytes(StandardCharsets.UTF_8);
        DeadLetter d = decoder.decode(null, junk, "clicks", 3, 42).right();
        assertEquals(ClickDecoder.UNDECODABLE, d.category);
        assertTrue(d.reason.contains("5 bytes without the C3 01 header"), d.reason);
        assertEquals("clicks", d.sourceTopic);
        assertEquals(3, d.sourcePartition);
        assertEquals(42, d.sourceOffset);
        assertArrayEquals(junk, d.value);

        byte[] good = codec.encode(event("t", 1, EventKind.LABELED, 1, dense13(), cat26()));
        byte[] truncated = Arrays.copyOf(good, good.length - 7);
        DeadLetter t = decoder.decode(null, truncated, "clicks", 0, 0).right();
        assertEquals(ClickDecoder.UNDECODABLE, t.category);
        assertTrue(t.reason.contains("corrupt ClickEvent"), t.reason);
    }

    @Test
    void outOfRangeValuesNameTheFeatureAndTheValue() {
        List<Double> dense = dense13();
        dense.set(4, Double.POSITIVE_INFINITY);
        assertRejected(event("inf", 1, EventKind.LABELED, 0, dense, cat26()), ClickDecoder.INVALID_VALUE,
                "dense feature I5 of event inf is Infinity");
        assertRejected(event("l7", 1, EventKind.LABELED, 7, dense13(), cat26()), ClickDecoder.INVALID_VALUE,
                "LABELED event l7 has label 7; allowed 0 or 1");
        assertRejected(event("nolabel", 1, EventKind.LABELED, null, dense13(), cat26()), ClickDecoder.INVALID_VALUE,
                "has label null");
        assertRejected(event("", 1, EventKind.LABELED, 1, dense13(), cat26()), ClickDecoder.INVALID_VALUE, "empty eventId");
        ClickEvent click = event("c", 1, EventKind.CLICK, null, List.of(), List.of());
        assertRejected(click, ClickDecoder.INVALID_VALUE, "CLICK event c names no impressionId");
    }

    @Test
    void wrongFeatureCountsAndForeignLayoutsAreRejected() {
        List<Double> twelve = dense13().subList(0, 12);
        assertRejected(event("short", 1, EventKind.LABELED, 1, new ArrayList<>(twelve), cat26()), ClickDecoder.WRONG_SHAPE,
                "event short has 12 dense and 26 categorical values; layout 'criteo' has 13 dense and 26 categorical");
        ClickEvent foreign = event("f", 1, EventKind.LABELED, 1, dense13(), cat26());
        long otherId = FeatureLayout.criteo(1_000).id();
        foreign.setLayoutId(otherId);
        assertRejected(foreign, ClickDecoder.UNKNOWN_LAYOUT, String.format("feature layout %016x, which this job does not know", otherId));
    }

    @Test
    void missingValuesAreExplicit() {
        List<Double> dense = dense13();
        dense.set(0, null);
        List<String> cat = cat26();
        cat.set(2, null);
        FeatureRow row = decoder.decode(null, codec.encode(event("m", 5, EventKind.IMPRESSION, null, dense, cat)), "clicks", 0, 0).left();
        assertEquals(0f, row.dense[0], "a missing count becomes 0");
        assertEquals(new dev.freshet.features.FeatureTransform(CRITEO).row(2, null), row.sparse[2], "a missing value hashes as its own token");
        assertEquals(FeatureRow.IMPRESSION, row.kind);
        assertEquals(5, row.eventTime);
        assertEquals(ClickDecoder.idHash("m"), row.eventIdHash);
    }

    private void assertRejected(ClickEvent e, String category, String reasonPart) {
        Either<FeatureRow, DeadLetter> out = decoder.decode(null, codec.encode(e), "clicks", 0, 0);
        assertTrue(out.isRight(), "accepted " + e);
        assertEquals(category, out.right().category, out.right().reason);
        assertTrue(out.right().reason.contains(reasonPart), out.right().reason);
    }

    private void check(int line, int label, float[] dense, int[] rows) {
        assumeTrue(sample != null, "skipped: ../shared/data/criteo-kaggle-sample-10k.tsv not found (system property freshet.shared.dir)");
        FeatureRow row = decodeLine(line);
        assertNotNull(row);
        assertEquals(label, row.label);
        assertEquals("sample:" + line, row.eventId);
        assertEquals(1_700_000_000_000L + line, row.eventTime);
        assertArrayEquals(dense, row.dense, "dense of line " + line);
        assertArrayEquals(rows, row.sparse, "rows of line " + line);
    }

    /** TSV line n (1-based) as a producer would send it, through the decoder. */
    private FeatureRow decodeLine(int n) {
        Either<FeatureRow, DeadLetter> out = decoder.decode(null, codec.encode(lineEvent(n)), "clicks", 0, n);
        if (out.isRight()) throw new AssertionError("line " + n + " rejected: " + out.right().reason);
        return out.left();
    }

    private ClickEvent lineEvent(int n) {
        String[] f = sample.get(n - 1).split("\t", -1);
        List<Double> dense = new ArrayList<>();
        for (int i = 1; i <= 13; i++) dense.add(f[i].isEmpty() ? null : Double.parseDouble(f[i]));
        List<String> cat = new ArrayList<>();
        for (int i = 14; i < 40; i++) cat.add(f[i].isEmpty() ? null : f[i]);
        return event("sample:" + n, 1_700_000_000_000L + n, EventKind.LABELED, Integer.parseInt(f[0]), dense, cat);
    }

    private static ClickEvent event(String id, long time, EventKind kind, Integer label, List<Double> dense, List<String> cat) {
        return ClickEvent.newBuilder().setEventId(id).setEventTime(Instant.ofEpochMilli(time)).setKind(kind).setLabel(label)
                .setLayoutId(CRITEO.id()).setDense(dense).setCategorical(cat).build();
    }

    private static List<Double> dense13() {
        List<Double> d = new ArrayList<>();
        for (int i = 0; i < 13; i++) d.add((double) i);
        return d;
    }

    private static List<String> cat26() {
        List<String> c = new ArrayList<>();
        for (int i = 0; i < 26; i++) c.add("v" + i);
        return c;
    }
}
