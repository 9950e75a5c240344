package dev.freshet.ingest;

import dev.freshet.config.CommandLine;
import dev.freshet.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The replay command's usage errors, which must fail before any producer exists. */
class ReplayCommandTest {
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private final ReplayCommand command = new ReplayCommand(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8), Clock.systemUTC(), config -> {
                throw new AssertionError("no producer may be created for a bad command line");
            }, false);

    @TempDir
    Path tmp;

    @Test
    void noFileIsAUsageError() throws Exception {
        assertEquals(2, command.run(parse()));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("no input file"), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void aMissingFileFailsBeforeAnythingIsSent() throws Exception {
        Path missing = tmp.resolve("nope.tsv");
        assertEquals(1, command.run(parse(missing.toString())));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains(missing + " is not a readable file; nothing was sent"),
                err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void badSettingsNameTheKeyAndTheRange() {
        ConfigException rate = assertThrows(ConfigException.class, () -> command.run(parse("--rate", "-5", "x.tsv")));
        assertTrue(rate.getMessage().contains("ingest.rate = '-5' is invalid"), rate.getMessage());
        ConfigException typo = assertThrows(ConfigException.class, () -> parse("--set", "ingest.rat=5", "x.tsv"));
        assertTrue(typo.getMessage().contains("unknown setting ingest.rat"), typo.getMessage());
        ConfigException buffer = assertThrows(ConfigException.class,
                () -> command.run(parse("--set", "ingest.buffer-bytes=1048576", "--set", "ingest.batch-bytes=4194304", "x.tsv")));
        assertTrue(buffer.getMessage().contains("ingest.buffer-bytes = 1048576 is smaller than ingest.batch-bytes = 4194304"), buffer.getMessage());
    }

    private CommandLine parse(String... args) {
        return CommandLine.parse(args, command.settings(), command.aliases(), Map.of());
    }
}
