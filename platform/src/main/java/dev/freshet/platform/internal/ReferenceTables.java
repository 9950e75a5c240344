package dev.freshet.platform.internal;

import dev.freshet.config.Command;
import dev.freshet.config.Setting;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * The README's reference sections, generated from the declarations so they are never written twice:
 * the command list (each {@link Command#summary()}) and the settings table (each {@link Setting}).
 * Each lives between a begin and an end marker in the README; {@link #updateReadme} replaces what is
 * between them and leaves everything else alone.
 */
public final class ReferenceTables {
    public static final String COMMANDS_BEGIN = "<!-- generated:commands:begin (freshet settings README.md) -->";
    public static final String COMMANDS_END = "<!-- generated:commands:end -->";
    public static final String SETTINGS_BEGIN = "<!-- generated:settings:begin (freshet settings README.md) -->";
    public static final String SETTINGS_END = "<!-- generated:settings:end -->";
    public static final String BENCH_BEGIN = "<!-- generated:benchmarks:begin (freshet settings README.md) -->";
    public static final String BENCH_END = "<!-- generated:benchmarks:end -->";

    private ReferenceTables() {
    }

    /** One row per setting, sorted by key, with markdown's pipe escaped inside cells. */
    public static String settingsTable(List<Setting<?>> settings) {
        StringBuilder sb = new StringBuilder("| key | type | default | allowed | what it does |\n| --- | --- | --- | --- | --- |\n");
        settings.stream().sorted(Comparator.comparing(Setting::key)).forEach(s -> sb.append("| `").append(s.key()).append("` | ")
                .append(s.type()).append(" | ").append(defaultCell(s)).append(" | ").append(cell(s.allowed())).append(" | ")
                .append(cell(s.doc())).append(" |\n"));
        return sb.toString();
    }

    public static String commandTable(List<Command> commands) {
        StringBuilder sb = new StringBuilder("| command | what it does |\n| --- | --- |\n");
        for (Command c : commands) {
            sb.append("| `freshet ").append(c.name()).append("` | ").append(cell(c.summary())).append(" |\n");
        }
        return sb.toString();
    }

    /**
     * {@code readme} with its generated sections rebuilt (commands, settings, and the benchmark figures
     * from {@code benchResults}/*.json); fails naming a marker that is missing.
     */
    public static String updateReadme(String readme, List<Command> commands, Path benchResults) {
        return replaceBetween(updateReference(readme, commands), BENCH_BEGIN, BENCH_END, benchTables(benchResults));
    }

    /**
     * Only the commands and settings sections: what a test holds the README to (benchmark results are
     * re-measured on their own schedule and copied in by the same command).
     */
    public static String updateReference(String readme, List<Command> commands) {
        String out = replaceBetween(readme, COMMANDS_BEGIN, COMMANDS_END, commandTable(commands));
        return replaceBetween(out, SETTINGS_BEGIN, SETTINGS_END, settingsTable(dev.freshet.platform.FreshetCommands.settings(commands)));
    }

    /**
     * One table per benchmark result file (bench/results/NAME.json, the format of the bench module's
     * BenchReport): the command that reproduces it, machine and date, then each figure with its target
     * and whether it was met.
     */
    public static String benchTables(Path dir) {
        List<Path> files;
        try (Stream<Path> s = Files.isDirectory(dir) ? Files.list(dir) : Stream.empty()) {
            files = s.filter(p -> p.getFileName().toString().endsWith(".json")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir + ": " + e.getMessage(), e);
        }
        ObjectMapper json = new ObjectMapper();
        StringBuilder sb = new StringBuilder();
        for (Path f : files) {
            JsonNode root;
            try {
                root = json.readTree(f.toFile());
            } catch (IOException e) {
                throw new UncheckedIOException("benchmark result " + f + " is not valid JSON: " + e.getMessage()
                        + ". Fix: rerun the benchmark that writes it.", e);
            }
            String name = f.getFileName().toString().replaceFirst("\\.json$", "");
            sb.append("#### ").append(name).append("\n\n`").append(root.path("command").asText()).append("`  \n")
                    .append(root.path("machine").asText()).append(", ").append(root.path("date").asText()).append("\n\n")
                    .append("| figure | value | unit | target | met |\n| --- | --- | --- | --- | --- |\n");
            for (JsonNode fig : root.path("figures")) {
                JsonNode target = fig.path("target");
                boolean higher = fig.path("higher_is_better").asBoolean();
                double v = fig.path("value").asDouble(Double.NaN);
                String met = target.isNumber() ? ((higher ? v >= target.asDouble() : v <= target.asDouble()) ? "yes" : "**no**") : "";
                sb.append("| ").append(cell(fig.path("name").asText())).append(" | ").append(number(fig.path("value")))
                        .append(" | ").append(cell(fig.path("unit").asText())).append(" | ")
                        .append(target.isNumber() ? (higher ? "≥ " : "≤ ") + number(target) : "").append(" | ").append(met).append(" |\n");
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    private static String number(JsonNode n) {
        if (!n.isNumber()) return n.asText();
        double v = n.asDouble();
        if (v == Math.rint(v) && Math.abs(v) < 1e15) return String.format(Locale.ROOT, "%,d", (long) v);
        if (Math.abs(v) >= 1000) return String.format(Locale.ROOT, "%,.0f", v);
        if (Math.abs(v) >= 1) return String.format(Locale.ROOT, "%.2f", v);
        return String.format(Locale.ROOT, "%.3g", v);
    }

    static String replaceBetween(String text, String begin, String end, String content) {
        int b = text.indexOf(begin);
        int e = text.indexOf(end);
        if (b < 0 || e < b) {
            throw new IllegalArgumentException("the README lacks the marker pair " + begin + " ... " + end
                    + ". Fix: put both markers, each on its own line, where the generated section belongs.");
        }
        return text.substring(0, b + begin.length()) + "\n" + content + text.substring(e);
    }

    private static String defaultCell(Setting<?> s) {
        if (s.defaultText() == null) return "(required)";
        if (s.defaultText().isEmpty()) return "\"\"";
        return "`" + s.defaultText().replace("|", "\\|") + "`";
    }

    private static String cell(String text) {
        return text.replace("|", "\\|").replace("\n", " ");
    }
}
