package dev.freshet.ingest;

import dev.freshet.features.FeatureLayout;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.EventKind;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TsvClickReaderTest {
    private static final FeatureLayout CRITEO = FeatureLayout.criteo(100_000);
    private static final EventTimeSource SEQUENCE = EventTimeSource.sequence(Instant.parse("2024-01-01T00:00:00Z"), Duration.ofMillis(10));
    /** A valid Criteo line (the sample's first). */
    private static final String GOOD = "0\t1\t1\t5\t0\t1382\t4\t15\t2\t181\t1\t2\t\t2\t68fd1e64\t80e26c9b\tfb936136\t7b4723c4\t25c83c98\t7e0ccccf"
            + "\tde7995b8\t1f89b562\ta73ee510\ta8cd5504\tb2cb9c98\t37c9c164\t2824a5f6\t1adce6ef\t8ba8b39a\t891b62e7\te5ba7672\tf54016b9"
            + "\t21ddcdc9\tb1252a9d\t07b5194c\t\t3a171ecb\tc5c50484\te8b83407\t9727dd16";

    @TempDir
    Path tmp;

    @Test
    void everyRowOfTheCriteoSampleParses() throws IOException {
        List<ParsedLine> lines = readAll(SampleData.criteoSample(), CRITEO);
        assertEquals(SampleData.ROWS, lines.size());
        long positives = 0;
        for (ParsedLine line : lines) {
            ClickEvent e = assertInstanceOf(ParsedLine.Accepted.class, line, line.toString()).event();
            assertEquals(13, e.getDense().size());
            assertEquals(26, e.getCategorical().size());
            assertEquals(EventKind.LABELED, e.getKind());
            assertEquals(CRITEO.id(), e.getLayoutId());
            assertEquals(SampleData.NAME + ":" + line.lineNumber(), e.getEventId());
            assertEquals(Instant.parse("2024-01-01T00:00:00Z").plusMillis(10 * (line.lineNumber() - 1)), e.getEventTime());
            positives += e.getLabel();
        }
        assertEquals(SampleData.POSITIVES, positives);

        ClickEvent first = ((ParsedLine.Accepted) lines.get(0)).event();
        assertEquals(0, first.getLabel());
        assertEquals(Arrays.asList(1.0, 1.0, 5.0, 0.0, 1382.0, 4.0, 15.0, 2.0, 181.0, 1.0, 2.0, null, 2.0), first.getDense());
        assertEquals("68fd1e64", first.getCategorical().get(0));
        assertNull(first.getCategorical().get(21), "C22 is empty in the first line");
        assertEquals("9727dd16", first.getCategorical().get(25));
    }

    @Test
    void gzipInputGivesTheSameEvents() throws IOException {
        Path plain = SampleData.criteoSample();
        Path gz = tmp.resolve("sample.tsv.gz");
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(gz))) {
            Files.copy(plain, out);
        }
        List<ParsedLine> fromPlain = readAll(plain, CRITEO);
        List<ParsedLine> fromGzip = readAll(gz, CRITEO);
        assertEquals(fromPlain.size(), fromGzip.size());
        for (int i = 0; i < fromPlain.size(); i++) {
            ClickEvent a = ((ParsedLine.Accepted) fromPlain.get(i)).event();
            ClickEvent b = ((ParsedLine.Accepted) fromGzip.get(i)).event();
            b.setEventId(a.getEventId()); // ids name the file
            assertEquals(a, b, "line " + (i + 1));
        }
    }

    @Test
    void eachBadLineIsRejectedWithItsReasonAndTheGoodLinesAroundItStillParse() throws IOException {
        List<String> bad = List.of(
                GOOD.substring(0, GOOD.lastIndexOf('\t')),                 // 39 columns
                GOOD + "\textra",                                           // 41 columns
                GOOD.replaceFirst("\t1382\t", "\t13.5\t"),                  // non-integer count
                GOOD.replaceFirst("\t1382\t", "\tabc\t"),                   // not a number
                GOOD.replaceFirst("\t1382\t", "\t99999999999999999999\t"),  // overflows long
                GOOD.replace("68fd1e64", "68fd1e6g"),                       // bad hex
                GOOD.replace("68fd1e64", "0123456789abcdef0"),              // 17 hex digits
                "",                                                         // empty line
                "2" + GOOD.substring(1));                                   // label not 0/1
        List<String> expected = List.of(
                "t.tsv:2: 39 columns, layout criteo has 40",
                "t.tsv:4: 41 columns, layout criteo has 40",
                "t.tsv:6: I5 = '13.5' is not an integer",
                "t.tsv:8: I5 = 'abc' is not an integer",
                "t.tsv:10: I5 = '99999999999999999999' overflows a 64-bit integer",
                "t.tsv:12: C1 = '68fd1e6g' is not a hexadecimal hash",
                "t.tsv:14: C1 = '0123456789abcdef0' is not a hexadecimal hash",
                "t.tsv:16: empty line",
                "t.tsv:18: label '2' is not 0 or 1");
        List<String> lines = new ArrayList<>();
        lines.add(GOOD);
        for (String b : bad) {
            lines.add(b);
            lines.add(GOOD);
        }
        Path file = tmp.resolve("t.tsv");
        Files.write(file, lines, StandardCharsets.UTF_8);

        List<ParsedLine> parsed = readAll(file, CRITEO);
        assertEquals(lines.size(), parsed.size());
        List<String> reasons = new ArrayList<>();
        for (int i = 0; i < parsed.size(); i++) {
            ParsedLine p = parsed.get(i);
            assertEquals(i + 1, p.lineNumber());
            if (i % 2 == 0) {
                assertEquals("t.tsv:" + (i + 1), assertInstanceOf(ParsedLine.Accepted.class, p).event().getEventId());
            } else {
                reasons.add(assertInstanceOf(ParsedLine.Rejected.class, p).reason());
            }
        }
        for (int i = 0; i < expected.size(); i++) {
            assertTrue(reasons.get(i).startsWith(expected.get(i)), "got: " + reasons.get(i) + "\nexpected to start with: " + expected.get(i));
        }
    }

    @Test
    void extremeCountsParseExactly() throws IOException {
        Path file = tmp.resolve("edge.tsv");
        Files.writeString(file, GOOD.replaceFirst("\t1382\t", "\t9223372036854775807\t").replaceFirst("^0\t1\t", "1\t-9223372036854775808\t") + "\r\n");
        ClickEvent e = ((ParsedLine.Accepted) readAll(file, CRITEO).get(0)).event();
        assertEquals(1, e.getLabel());
        assertEquals((double) Long.MIN_VALUE, e.getDense().get(0));
        assertEquals((double) Long.MAX_VALUE, e.getDense().get(4));
        assertEquals("9727dd16", e.getCategorical().get(25), "a trailing CR is not part of the last value");
    }

    @Test
    void truncatedGzipKeepsEveryCompleteLineAndRejectsTheRest() throws IOException {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 2000; i++) {
            text.append(GOOD.replace("68fd1e64", String.format("%08x", i * 7919))).append('\n');
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (OutputStream out = new GZIPOutputStream(bytes)) {
            out.write(text.toString().getBytes(StandardCharsets.UTF_8));
        }
        byte[] whole = bytes.toByteArray();
        Path cut = tmp.resolve("cut.tsv.gz");
        Files.write(cut, Arrays.copyOf(whole, whole.length / 2));

        List<ParsedLine> parsed = readAll(cut, CRITEO);
        ParsedLine last = parsed.get(parsed.size() - 1);
        String reason = assertInstanceOf(ParsedLine.Rejected.class, last).reason();
        assertTrue(reason.contains("truncated gzip"), reason);
        int accepted = parsed.size() - 1;
        assertTrue(accepted > 100 && accepted < 2000, "lines before the cut: " + accepted);
        assertTrue(reason.contains("after " + accepted + " complete lines"), reason);
        for (int i = 0; i < accepted; i++) {
            ClickEvent e = assertInstanceOf(ParsedLine.Accepted.class, parsed.get(i)).event();
            assertEquals(String.format("%08x", i * 7919), e.getCategorical().get(0), "line " + (i + 1));
        }
    }

    @Test
    void customLayoutWithNamedColumnsEventIdAndTimeAndNoLabel() throws IOException {
        FeatureLayout layout = FeatureLayout.parse("id:event_id,ts:event_time,user:categorical:1000,item:categorical:50,price:numeric,note:skip", 10);
        Path file = tmp.resolve("shop.tsv");
        Files.writeString(file, String.join("\n",
                "imp-1\t1700000000000\talice\tbook-9\t12.5\tanything",
                "imp-2\t2024-02-29T12:00:00Z\tbob\t\t-3\t",
                "imp-3\tyesterday\tcarol\tpen\t1\t",
                "imp-4\t1700000000001\tdave\tpen\tNaN\t",
                "imp-5\t1700000000002\tdave\tpen\tnope\t",
                "\tx\tdave\tpen\t1\t"));
        List<ParsedLine> parsed = readAll(file, layout);
        ClickEvent first = ((ParsedLine.Accepted) parsed.get(0)).event();
        assertEquals("imp-1", first.getEventId());
        assertEquals(Instant.ofEpochMilli(1_700_000_000_000L), first.getEventTime());
        assertEquals(EventKind.IMPRESSION, first.getKind(), "no label column: the join decides the label");
        assertNull(first.getLabel());
        assertEquals(List.of("alice", "book-9"), first.getCategorical());
        assertEquals(List.of(12.5), first.getDense());
        ClickEvent second = ((ParsedLine.Accepted) parsed.get(1)).event();
        assertEquals(Instant.parse("2024-02-29T12:00:00Z"), second.getEventTime());
        assertEquals(Arrays.asList("bob", null), second.getCategorical());
        assertEquals(List.of(-3.0), second.getDense());
        assertTrue(((ParsedLine.Rejected) parsed.get(2)).reason().contains("event time ts = 'yesterday' is neither epoch milliseconds nor an ISO-8601"));
        assertTrue(((ParsedLine.Rejected) parsed.get(3)).reason().contains("price = 'NaN' is not finite"));
        assertTrue(((ParsedLine.Rejected) parsed.get(4)).reason().contains("price = 'nope' is not a number"));
        assertTrue(((ParsedLine.Rejected) parsed.get(5)).reason().contains("event id column id is empty"));
    }

    @Test
    void anOverlongLineIsSkippedAndTheNextLineStillParses() throws IOException {
        Path file = tmp.resolve("long.tsv");
        String huge = "1\t" + "9".repeat(TsvClickReader.MAX_LINE_BYTES + 10);
        Files.writeString(file, GOOD + "\n" + huge + "\n" + GOOD + "\n");
        List<ParsedLine> parsed = readAll(file, CRITEO);
        assertEquals(3, parsed.size());
        assertEquals("long.tsv:1", ((ParsedLine.Accepted) parsed.get(0)).event().getEventId());
        assertTrue(((ParsedLine.Rejected) parsed.get(1)).reason().startsWith("long.tsv:2: line longer than 1048576 bytes, skipped"));
        assertEquals("long.tsv:3", ((ParsedLine.Accepted) parsed.get(2)).event().getEventId());
    }

    @Test
    void wallClockEventTimesComeFromTheInjectedClock() throws IOException {
        Path file = tmp.resolve("one.tsv");
        Files.writeString(file, GOOD + "\n");
        Clock fixed = Clock.fixed(Instant.parse("2030-05-06T07:08:09Z"), ZoneOffset.UTC);
        List<ParsedLine> parsed = new ArrayList<>();
        try (TsvClickReader reader = TsvClickReader.open(file, CRITEO, EventTimeSource.wallClock(fixed))) {
            for (ParsedLine p; (p = reader.next()) != null; ) parsed.add(p);
            assertEquals(GOOD.length() + 1, reader.bytesRead());
        }
        assertEquals(Instant.parse("2030-05-06T07:08:09Z"), ((ParsedLine.Accepted) parsed.get(0)).event().getEventTime());
    }

    @Test
    void encodedFastPathWritesExactlyTheCodecsBytesForEverySampleRow() throws IOException {
        assertSameBytesBothWays(SampleData.criteoSample(), CRITEO);
    }

    @Test
    void encodedFastPathMatchesTheCodecForCustomLayoutsAndNonAsciiValues() throws IOException {
        FeatureLayout layout = FeatureLayout.parse("id:event_id,ts:event_time,user:categorical:1000,item:categorical:50,price:numeric,n:count", 10);
        Path file = tmp.resolve("shop.tsv");
        Files.writeString(file, String.join("\n",
                "imp-1\t1700000000000\talice\tbook-9\t12.5\t-3",
                "imp-ü\t2024-02-29T12:00:00Z\tbjörk 🎵\t\t-0.0\t",
                "imp-3\t5\t\tpen\t1e-300\t9223372036854775807",
                "imp-4\t6\tbad\tpen\tNaN\t1"), StandardCharsets.UTF_8);
        assertSameBytesBothWays(file, layout);
    }

    private static void assertSameBytesBothWays(Path file, FeatureLayout layout) throws IOException {
        var codec = new dev.freshet.schemas.serde.AvroCodec<>(ClickEvent.class);
        int compared = 0;
        try (TsvClickReader objects = TsvClickReader.open(file, layout, SEQUENCE);
             TsvClickReader encoded = TsvClickReader.open(file, layout, SEQUENCE)) {
            for (ParsedLine a; (a = objects.next()) != null; ) {
                ParsedLine b = encoded.nextEncoded();
                if (a instanceof ParsedLine.Rejected ra) {
                    assertEquals(ra, b);
                    continue;
                }
                ClickEvent e = ((ParsedLine.Accepted) a).event();
                ParsedLine.Encoded eb = assertInstanceOf(ParsedLine.Encoded.class, b);
                assertEquals(a.lineNumber(), eb.lineNumber());
                assertEquals(ClickProducer.keyOf(e), new String(eb.key(), StandardCharsets.UTF_8));
                org.junit.jupiter.api.Assertions.assertArrayEquals(codec.encode(e), eb.value(), "line " + a.lineNumber());
                assertEquals(e, codec.decode(eb.value()));
                compared++;
            }
            assertNull(encoded.nextEncoded());
        }
        assertTrue(compared > 0);
    }

    static List<ParsedLine> readAll(Path file, FeatureLayout layout) throws IOException {
        List<ParsedLine> out = new ArrayList<>();
        try (TsvClickReader reader = TsvClickReader.open(file, layout, SEQUENCE)) {
            for (ParsedLine p; (p = reader.next()) != null; ) out.add(p);
        }
        return out;
    }
}
