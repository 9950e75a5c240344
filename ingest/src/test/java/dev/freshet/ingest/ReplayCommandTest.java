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

    @Test
    void anUnreachableBrokerFailsEachSendCountsItAndExitsOne() throws Exception {
        Path file = tmp.resolve("two.tsv");
        String line = "0" + "\t1".repeat(13) + "\tab".repeat(26);
        java.nio.file.Files.writeString(file, line + "\n" + line + "\n");
        int deadPort;
        try (java.net.ServerSocket socket = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            deadPort = socket.getLocalPort();
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ReplayCommand real = new ReplayCommand(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                Clock.systemUTC(), ClickProducer::create, false);
        String[] args = {"--bootstrap-servers", "127.0.0.1:" + deadPort, "--set", "ingest.max-block=500ms", file.toString()};
        assertEquals(1, real.run(CommandLine.parse(args, real.settings(), real.aliases(), Map.of())));
        String errors = err.toString(StandardCharsets.UTF_8);
        assertTrue(errors.contains("ingest replay: 2 events could not be delivered to clicks"), errors);
        assertTrue(errors.contains("Fix: check that Kafka is reachable"), errors);
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("replayed 2 events"), out.toString(StandardCharsets.UTF_8));
    }

    @Test
    void producerFutureFailsWhenTheEventCannotBeSent() throws Exception {
        int deadPort;
        try (java.net.ServerSocket socket = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            deadPort = socket.getLocalPort();
        }
        IngestConfig config = IngestConfig.from(dev.freshet.config.ConfigSource.of(Map.of(
                "kafka.bootstrap-servers", "127.0.0.1:" + deadPort, "ingest.max-block", "300ms")));
        try (ClickProducer producer = ClickProducer.create(config)) {
            dev.freshet.schemas.ClickEvent event = dev.freshet.schemas.ClickEvent.newBuilder().setEventId("e").setEventTime(java.time.Instant.EPOCH)
                    .setKind(dev.freshet.schemas.EventKind.LABELED).setLabel(1).setImpressionId(null).setLayoutId(1)
                    .setDense(java.util.List.of()).setCategorical(java.util.List.of()).build();
            var future = producer.send(event);
            var failure = assertThrows(java.util.concurrent.ExecutionException.class, () -> future.get(30, java.util.concurrent.TimeUnit.SECONDS));
            assertTrue(failure.getCause() instanceof org.apache.kafka.common.errors.TimeoutException, failure.toString());
            assertEquals(1, producer.sent());
            assertEquals(1, producer.failed());
            assertEquals(0, producer.acked());
        }
    }

    private CommandLine parse(String... args) {
        return CommandLine.parse(args, command.settings(), command.aliases(), Map.of());
    }
}
