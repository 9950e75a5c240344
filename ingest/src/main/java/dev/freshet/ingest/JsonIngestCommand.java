package dev.freshet.ingest;

import dev.freshet.config.Command;
import dev.freshet.config.CommandLine;
import dev.freshet.config.CommonSettings;
import dev.freshet.config.Setting;
import dev.freshet.features.FeatureLayout;
import dev.freshet.ingest.internal.ProgressLine;
import org.apache.kafka.streams.KafkaStreams;

import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** {@code freshet ingest json}: runs the JSON-to-Avro click topology until stopped (or for {@code --run-for}). */
public final class JsonIngestCommand implements Command {
    public static final Setting<Duration> RUN_FOR = Setting.ofDuration("ingest.json.run-for", "0s", Duration.ZERO, Duration.ofDays(3650),
            "Stop the JSON topology after this long; 0 runs until the process is stopped.");

    private final PrintStream out;
    private final PrintStream err;
    private final boolean terminal;

    public JsonIngestCommand() {
        this(System.out, System.err, System.console() != null);
    }

    public JsonIngestCommand(PrintStream out, PrintStream err, boolean terminal) {
        this.out = out;
        this.err = err;
        this.terminal = terminal;
    }

    @Override
    public String name() {
        return "ingest json";
    }

    @Override
    public String summary() {
        return "Validate JSON click events from clicks.json into Avro on clicks; bad records go to clicks.dlq with the reason.";
    }

    @Override
    public String details() {
        return """
                Input records: {"eventId": "e-1", "eventTime": 1700000000000, "kind": "LABELED", "label": 1,
                                "dense": {"I1": 3}, "categorical": {"C1": "68fd1e64"}}
                Feature names are the layout's (features.columns). Exactly-once (Kafka Streams exactly_once_v2);
                state lives under freshet.work-dir/streams/<application id>.
                example: freshet ingest json --run-for 10m
                """;
    }

    @Override
    public List<Setting<?>> settings() {
        List<Setting<?>> all = new ArrayList<>(JsonIngestConfig.SETTINGS);
        all.add(RUN_FOR);
        all.addAll(FeatureLayout.SETTINGS);
        return all;
    }

    @Override
    public Map<String, String> aliases() {
        return Map.of("bootstrap-servers", CommonSettings.BOOTSTRAP_SERVERS.key(), "run-for", RUN_FOR.key(),
                "columns", FeatureLayout.COLUMNS.key(), "work-dir", CommonSettings.WORK_DIR.key());
    }

    @Override
    public int run(CommandLine line) throws Exception {
        JsonIngestConfig config = JsonIngestConfig.from(line.config());
        FeatureLayout layout = FeatureLayout.from(line.config());
        Duration runFor = line.config().get(RUN_FOR);
        JsonClickTopology.Stats stats = new JsonClickTopology.Stats();
        CountDownLatch stop = new CountDownLatch(1);
        Thread hook = new Thread(stop::countDown, "freshet-ingest-json-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        ProgressLine progress = new ProgressLine("ingest json", err, System::nanoTime, terminal);
        try (KafkaStreams streams = new KafkaStreams(JsonClickTopology.build(config, layout, stats), JsonClickTopology.streamsProperties(config))) {
            streams.setStateListener((now, before) -> {
                if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) stop.countDown();
            });
            streams.start();
            long deadline = runFor.isZero() ? Long.MAX_VALUE : System.nanoTime() + runFor.toNanos();
            while (!stop.await(200, TimeUnit.MILLISECONDS) && System.nanoTime() < deadline) {
                progress.update(stats.accepted(), 0, stats.rejected());
            }
            boolean failed = streams.state() == KafkaStreams.State.ERROR;
            streams.close(Duration.ofSeconds(30));
            progress.finish(stats.accepted(), 0, stats.rejected());
            out.printf(Locale.ROOT, "converted %,d JSON click events to %s; %,d rejected to %s%s%n", stats.accepted(), config.topics().clicks(),
                    stats.rejected(), config.topics().clicksDlq(), stats.lastReason() == null ? "" : " (last reason: " + stats.lastReason() + ")");
            if (failed) {
                err.println("ingest json: the topology stopped with an error (see the log above). Fix: check that kafka.bootstrap-servers is reachable and the topics exist.");
                return 1;
            }
            return 0;
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // The JVM is already exiting; the hook has run.
            }
        }
    }
}
