package dev.freshet.ingest;

import dev.freshet.config.Command;
import dev.freshet.config.CommonSettings;
import dev.freshet.config.Setting;
import dev.freshet.features.FeatureLayout;
import dev.freshet.ingest.internal.ProgressLine;

import java.io.PrintStream;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * What the commands that send click events to the clicks topic share: where their output goes, the clock for
 * wall-clock event times, how producers are made, and the settings and option names of ingest and the
 * feature layout.
 */
abstract sealed class ClickSourceCommand implements Command permits ReplayCommand, SyntheticCommand {
    final PrintStream out;
    final PrintStream err;
    final Clock clock;
    final Function<IngestConfig, ClickProducer> producers;
    private final boolean terminal;

    ClickSourceCommand(PrintStream out, PrintStream err, Clock clock, Function<IngestConfig, ClickProducer> producers, boolean terminal) {
        this.out = out;
        this.err = err;
        this.clock = clock;
        this.producers = producers;
        this.terminal = terminal;
    }

    /** {@code first} (the command's own settings), then ingest's and the feature layout's. */
    static List<Setting<?>> settingsAfter(List<Setting<?>> first) {
        List<Setting<?>> all = new ArrayList<>(first);
        all.addAll(IngestConfig.SETTINGS);
        all.addAll(FeatureLayout.SETTINGS);
        return all;
    }

    /** {@code --rate}, {@code --bootstrap-servers} and {@code --columns}, plus the command's own {@code more}. */
    static Map<String, String> aliasesWith(Map<String, String> more) {
        Map<String, String> all = new HashMap<>(more);
        all.put("rate", IngestConfig.RATE.key());
        all.put("bootstrap-servers", CommonSettings.BOOTSTRAP_SERVERS.key());
        all.put("columns", FeatureLayout.COLUMNS.key());
        return Map.copyOf(all);
    }

    /** The progress line on stderr, labelled {@code label}. */
    ProgressLine progress(String label) {
        return new ProgressLine(label, err, System::nanoTime, terminal);
    }
}
