package dev.freshet.ingest;

import dev.freshet.config.CommandLine;
import dev.freshet.features.FeatureLayout;
import dev.freshet.schemas.ClickEvent;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The synthetic command writing a click log instead of Kafka: the file replays into the generator's own events. */
class SyntheticCommandTest {
    @TempDir
    Path tmp;

    @Test
    void writesAGzipClickLogThatReadsBackAsTheGeneratorsEvents() throws Exception {
        Path file = tmp.resolve("synthetic.tsv.gz");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        SyntheticCommand command = new SyntheticCommand(new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8), Clock.systemUTC(), config -> {
                    throw new AssertionError("writing a file needs no producer");
                }, false);
        String[] args = {"--events", "1500", "--seed", "9", "--shift-after", "1000", "--output", file.toString(),
                "--set", "ingest.event-time=sequence", "--set", "ingest.event-time-start=1000"};
        assertEquals(0, command.run(CommandLine.parse(args, command.settings(), command.aliases(), Map.of())));

        FeatureLayout layout = FeatureLayout.criteo(100_000);
        SyntheticClicks library = new SyntheticClicks(SyntheticConfig.defaults().withSeed(9).withShiftAfter(1000), layout,
                EventTimeSource.sequence(Instant.ofEpochMilli(1000), Duration.ofMillis(1)));
        try (TsvClickReader reader = TsvClickReader.open(file, layout, EventTimeSource.sequence(Instant.ofEpochMilli(1000), Duration.ofMillis(1)))) {
            assertTrue(reader.gzip());
            for (int i = 0; i < 1500; i++) {
                ClickEvent expected = library.next();
                ClickEvent got = ((ParsedLine.Accepted) reader.next()).event();
                // The Criteo layout has no id or time column: the file names the id, the sequence gives the same times.
                assertEquals("synthetic.tsv.gz:" + (i + 1), got.getEventId());
                got.setEventId(expected.getEventId());
                assertEquals(expected, got, "line " + (i + 1));
            }
            assertEquals(null, reader.next());
        }
        String text = out.toString(StandardCharsets.UTF_8);
        assertTrue(text.contains("generated 1,500 synthetic events (seed 9) to " + file), text);
        assertTrue(text.contains(String.format(Locale.ROOT, "best achievable AUC (true click probabilities): %.4f", library.bestAuc())), text);
        assertTrue(text.contains(String.format(Locale.ROOT, "before the shift at event 1,000: %.4f; after: %.4f", library.bestAuc(0), library.bestAuc(1))), text);
    }
}
