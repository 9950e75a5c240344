package dev.freshet.trainer.retrain;

import dev.freshet.config.CommandLine;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code freshet retrain}'s side of the request-file protocol (the trainer's side runs in RetrainIntegrationTest). */
class RetrainCommandTest {
    private static final Instant NOW = Instant.parse("2026-03-01T12:00:00Z");

    private static void decision(Path dir, String trigger, Instant startedAt, String decision) throws Exception {
        Path decisions = RetrainJob.decisionsDir(dir);
        Files.createDirectories(decisions);
        Files.writeString(decisions.resolve("retrain-" + startedAt.toEpochMilli() + ".properties"),
                "retrain.trigger=" + trigger + "\nretrain.started-at=" + startedAt + "\nretrain.decision=" + decision
                        + "\nretrain.reason=the reason of " + trigger + " at " + startedAt + "\nretrain.window.examples=16000\n");
    }

    private static int run(RetrainCommand command, String... args) throws Exception {
        return command.run(CommandLine.parse(args, command.settings(), command.aliases(), Map.of()));
    }

    @Test
    void dropsTheRequestAndPrintsTheDecisionOfTheRetrainItAskedFor(@TempDir Path dir) throws Exception {
        decision(dir, "command", NOW.minusSeconds(60), "promoted");   // an earlier request's
        decision(dir, "schedule", NOW.plusSeconds(1), "kept_online"); // not asked for
        decision(dir, "command", NOW.plusSeconds(2), "kept_online");  // this request's
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        RetrainCommand command = new RetrainCommand(new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8), Clock.fixed(NOW, ZoneOffset.UTC));
        assertEquals(0, run(command, "--dir", dir.toString(), "--wait", "1m"));
        String printed = out.toString(StandardCharsets.UTF_8);
        assertTrue(printed.contains("freshet retrain: kept_online - the reason of command at " + NOW.plusSeconds(2)), printed);
        assertTrue(Files.exists(RetrainScheduler.requestFile(dir)), "the request stays for the trainer to take");
    }

    @Test
    void withoutATrainerItGivesUpAfterTheWaitSayingWhy(@TempDir Path dir) throws Exception {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        RetrainCommand command = new RetrainCommand(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), Clock.systemUTC());
        assertEquals(1, run(command, "--dir", dir.toString(), "--wait", "500ms"));
        String printed = err.toString(StandardCharsets.UTF_8);
        assertTrue(printed.contains("no decision within retrain.wait = 500ms") && printed.contains(dir.toString()), printed);
    }

    @Test
    void zeroWaitOnlyDropsTheRequest(@TempDir Path dir) throws Exception {
        RetrainCommand command = new RetrainCommand(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8), Clock.systemUTC());
        assertEquals(0, run(command, "--dir", dir.toString(), "--wait", "0s"));
        assertTrue(Files.readString(RetrainScheduler.requestFile(dir)).startsWith("requested-at="));
    }
}
