package dev.freshet.ingest;

import dev.freshet.config.CommandLine;
import dev.freshet.config.Setting;
import dev.freshet.features.FeatureLayout;
import dev.freshet.ingest.internal.Pacer;
import dev.freshet.ingest.internal.ProgressLine;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/** {@code freshet ingest replay FILE...}: replays click logs (TSV or gzip) to the clicks topic. */
public final class ReplayCommand extends ClickSourceCommand {
    public ReplayCommand() {
        this(System.out, System.err, Clock.systemUTC(), ClickProducer::create, System.console() != null);
    }

    /** For tests and embedding: where output goes, the clock for wall-clock event times, and how producers are made. */
    public ReplayCommand(PrintStream out, PrintStream err, Clock clock, Function<IngestConfig, ClickProducer> producers, boolean terminal) {
        super(out, err, clock, producers, terminal);
    }

    @Override
    public String name() {
        return "ingest replay";
    }

    @Override
    public String summary() {
        return "Replay click-log files (TSV or gzip, any feature layout) to the clicks topic.";
    }

    @Override
    public String details() {
        return """
                arguments: FILE... click logs, tab-separated, columns as features.columns says (Criteo by default);
                           gzip files are recognised by content.
                Bad lines are rejected with a reason and counted; the lines around them are still sent.
                Progress (events, events/s, bytes, rejects) goes to stderr at most once a second.
                exit code: 0 all lines sent, 3 some lines rejected, 1 events could not be delivered, 2 usage error.
                example: freshet ingest replay --rate 20000 data/criteo-kaggle-sample-10k.tsv
                """;
    }

    @Override
    public List<Setting<?>> settings() {
        return settingsAfter(List.of());
    }

    @Override
    public Map<String, String> aliases() {
        return aliasesWith(Map.of("event-time", IngestConfig.EVENT_TIME.key()));
    }

    @Override
    public int run(CommandLine line) throws Exception {
        if (line.positional().isEmpty()) {
            err.println("ingest replay: no input file. Fix: freshet ingest replay FILE... (see --help)");
            return 2;
        }
        IngestConfig config = IngestConfig.from(line.config());
        FeatureLayout layout = FeatureLayout.from(line.config());
        List<Path> files = line.positional().stream().map(Path::of).toList();
        for (Path f : files) {
            if (!Files.isRegularFile(f) || !Files.isReadable(f)) {
                err.println("ingest replay: " + f + " is not a readable file; nothing was sent. Fix: pass existing TSV or .gz click logs.");
                return 1;
            }
        }
        Replay.Result result;
        try (ClickProducer producer = producers.apply(config)) {
            ProgressLine progress = progress("replay");
            Replay replay = new Replay(layout, producer, EventTimeSource.from(config, clock), Pacer.system(config.rate()), progress,
                    config.reasonsShown());
            result = replay.run(files);
        }
        report(result, files.size(), config.topics().clicks());
        return result.exitCode();
    }

    private void report(Replay.Result r, int files, String topic) {
        out.printf(Locale.ROOT, "replayed %,d events from %d file%s to %s in %.1f s (%,.0f events/s, %,d acknowledged); %,d line%s rejected%n",
                r.events(), files, files == 1 ? "" : "s", topic, r.elapsed().toNanos() / 1e9, r.eventsPerSecond(), r.acked(),
                r.rejects(), r.rejects() == 1 ? "" : "s");
        if (r.rejects() > 0) {
            out.printf(Locale.ROOT, "first %d reject reason%s:%n", r.firstReasons().size(), r.firstReasons().size() == 1 ? "" : "s");
            r.firstReasons().forEach(reason -> out.println("  " + reason));
        }
        if (r.failed() > 0) {
            err.printf(Locale.ROOT, "ingest replay: %,d events could not be delivered to %s: %s. Fix: check that Kafka is reachable "
                    + "at kafka.bootstrap-servers and that the topic exists.%n", r.failed(), topic,
                    r.firstError() == null ? "unknown error" : r.firstError().getMessage());
        }
    }
}
