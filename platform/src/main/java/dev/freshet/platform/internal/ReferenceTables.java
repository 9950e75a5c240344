package dev.freshet.platform.internal;

import dev.freshet.config.Command;
import dev.freshet.config.Setting;

import java.util.Comparator;
import java.util.List;

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

    /** {@code readme} with both generated sections rebuilt; fails naming the marker that is missing. */
    public static String updateReadme(String readme, List<Command> commands) {
        String out = replaceBetween(readme, COMMANDS_BEGIN, COMMANDS_END, commandTable(commands));
        return replaceBetween(out, SETTINGS_BEGIN, SETTINGS_END, settingsTable(dev.freshet.platform.FreshetCommands.settings(commands)));
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
