package dev.freshet.ingest;

import dev.freshet.config.CommandLine;
import dev.freshet.config.Setting;
import dev.freshet.features.FeatureLayout;
import dev.freshet.ingest.internal.Pacer;
import dev.freshet.ingest.internal.ProgressLine;
import dev.freshet.ingest.internal.TsvLineWriter;
import dev.freshet.schemas.ClickEvent;

import java.io.BufferedWriter;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.zip.GZIPOutputStream;

/**
 * {@code freshet ingest synthetic}: produces a seeded synthetic click stream ({@link SyntheticClicks}) to the
 * clicks topic, or writes it as a click log, and prints the best AUC any model can reach on it.
 */
public final class SyntheticCommand extends ClickSourceCommand {
    public static final Setting<String> OUTPUT = new Setting<>("synthetic.output", "path", "", "a file path, or empty",
            "Write the synthetic events to this TSV file (gzip if it ends in .gz) instead of Kafka.", s -> s, s -> true);

    public SyntheticCommand() {
        this(System.out, System.err, Clock.systemUTC(), ClickProducer::create, System.console() != null);
    }

    public SyntheticCommand(PrintStream out, PrintStream err, Clock clock, Function<IngestConfig, ClickProducer> producers, boolean terminal) {
        super(out, err, clock, producers, terminal);
    }

    @Override
    public String name() {
        return "ingest synthetic";
    }

    @Override
    public String summary() {
        return "Produce a seeded synthetic click stream with Zipf-skewed IDs and labels from a hidden ground-truth model.";
    }

    @Override
    public String details() {
        return """
                The same seed gives the same events. Prints the generator's best achievable AUC (the AUC of the true
                click probabilities), the ceiling a trained model can approach. With --shift-after N the hot IDs and
                the ground truth change after N events.
                example: freshet ingest synthetic --events 200000 --seed 7 --rate 50000
                         freshet ingest synthetic --events 10000 --output clicks.tsv.gz
                """;
    }

    @Override
    public List<Setting<?>> settings() {
        List<Setting<?>> own = new ArrayList<>(SyntheticConfig.SETTINGS);
        own.add(OUTPUT);
        return settingsAfter(own);
    }

    @Override
    public Map<String, String> aliases() {
        return aliasesWith(Map.of("events", SyntheticConfig.EVENTS.key(), "seed", SyntheticConfig.SEED.key(),
                "shift-after", SyntheticConfig.SHIFT_AFTER.key(), "output", OUTPUT.key()));
    }

    @Override
    public int run(CommandLine line) throws Exception {
        if (!line.positional().isEmpty()) {
            err.println("ingest synthetic takes no arguments, got " + line.positional() + ". Fix: use --events N, --seed S (see --help).");
            return 2;
        }
        SyntheticConfig config = SyntheticConfig.from(line.config());
        IngestConfig ingest = IngestConfig.from(line.config());
        FeatureLayout layout = FeatureLayout.from(line.config());
        String output = line.config().get(OUTPUT);
        SyntheticClicks clicks = new SyntheticClicks(config, layout, EventTimeSource.from(ingest, clock));
        ProgressLine progress = progress("synthetic");
        Pacer pacer = Pacer.system(ingest.rate());
        String target;
        long failed = 0;
        if (output.isEmpty()) {
            target = ingest.topics().clicks();
            try (ClickProducer producer = producers.apply(ingest)) {
                for (long i = 0; i < config.events(); i++) {
                    pacer.acquire();
                    producer.send(clicks.next(), (m, e) -> { });
                    progress.update(i + 1, 0, 0);
                }
                producer.flush();
                failed = producer.failed();
                if (failed > 0) {
                    err.printf(Locale.ROOT, "ingest synthetic: %,d events could not be delivered: %s%n", failed, producer.firstError().getMessage());
                }
            }
        } else {
            Path file = Path.of(output);
            target = file.toString();
            TsvLineWriter writer = new TsvLineWriter(layout);
            OutputStream raw = Files.newOutputStream(file);
            try (Writer w = new BufferedWriter(new OutputStreamWriter(output.endsWith(".gz") ? new GZIPOutputStream(raw, 1 << 16) : raw,
                    StandardCharsets.UTF_8), 1 << 16)) {
                for (long i = 0; i < config.events(); i++) {
                    ClickEvent e = clicks.next();
                    w.write(writer.write(e));
                    w.write('\n');
                    progress.update(i + 1, 0, 0);
                }
            }
        }
        progress.finish(clicks.count(), 0, 0);
        out.printf(Locale.ROOT, "generated %,d synthetic events (seed %d) to %s; click rate %.4f%n", clicks.count(), config.seed(), target,
                clicks.clickRate());
        out.printf(Locale.ROOT, "best achievable AUC (true click probabilities): %.4f%n", clicks.bestAuc());
        if (config.shiftAfter() > 0 && config.shiftAfter() < config.events()) {
            out.printf(Locale.ROOT, "  before the shift at event %,d: %.4f; after: %.4f%n", config.shiftAfter(), clicks.bestAuc(0), clicks.bestAuc(1));
        }
        return failed > 0 ? 1 : 0;
    }
}
