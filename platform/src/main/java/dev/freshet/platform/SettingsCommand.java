package dev.freshet.platform;

import dev.freshet.config.Command;
import dev.freshet.config.CommandLine;
import dev.freshet.config.Setting;
import dev.freshet.platform.internal.ReferenceTables;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code freshet settings}: every setting of every command as a markdown table (key, type, default,
 * allowed values, doc), and the command list. {@code freshet settings README.md} rewrites the
 * generated sections of that file in place, so the README never states a setting twice.
 */
public final class SettingsCommand implements Command {

    @Override
    public String name() {
        return "settings";
    }

    @Override
    public String summary() {
        return "Print every setting (key, type, default, range, doc) as a markdown table; with a file argument, update its generated sections.";
    }

    @Override
    public String details() {
        return """
                freshet settings              print the settings table
                freshet settings README.md    rewrite the README's generated sections (commands, settings, benchmark figures)
                """;
    }

    @Override
    public List<Setting<?>> settings() {
        return List.of();
    }

    @Override
    public int run(CommandLine line) throws Exception {
        List<dev.freshet.config.Command> commands = FreshetCommands.all();
        if (line.positional().isEmpty()) {
            System.out.print(ReferenceTables.settingsTable(FreshetCommands.settings(commands)));
            return 0;
        }
        if (line.positional().size() > 1) {
            System.err.println("freshet settings: takes at most one file, got " + line.positional() + ". Fix: freshet settings README.md");
            return 2;
        }
        Path file = Path.of(line.positional().get(0));
        String before = Files.readString(file, StandardCharsets.UTF_8);
        Path results = file.toAbsolutePath().getParent().resolve("bench/results");
        String after = ReferenceTables.updateReadme(before, commands, results);
        if (after.equals(before)) {
            System.out.println(file + " is up to date");
        } else {
            Files.writeString(file, after, StandardCharsets.UTF_8);
            System.out.println("updated the generated sections of " + file);
        }
        return 0;
    }
}
