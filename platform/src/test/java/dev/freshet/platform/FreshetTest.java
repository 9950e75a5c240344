package dev.freshet.platform;

import dev.freshet.config.Command;
import dev.freshet.config.CommandLine;
import dev.freshet.config.Setting;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FreshetTest {
    static final Setting<Integer> SIZE = Setting.ofInt("test.size", 3, 1, 10, "A size.");

    /** Records what it was run with. */
    static class Probe implements Command {
        final String name;
        final List<String> seen = new ArrayList<>();
        int sizeSeen = -1;

        Probe(String name) {
            this.name = name;
        }

        public String name() { return name; }
        public String summary() { return "Probe " + name + "."; }
        public List<Setting<?>> settings() { return List.of(SIZE); }
        public Map<String, String> aliases() { return Map.of("size", SIZE.key()); }
        public int run(CommandLine line) {
            seen.addAll(line.positional());
            sizeSeen = line.config().get(SIZE);
            return 0;
        }
    }

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private int run(List<Command> commands, String... args) {
        return Freshet.run(args, commands, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @Test
    void longestMatchingNameWinsAndFlagsReachTheCommand() {
        Probe model = new Probe("model");
        Probe rollback = new Probe("model rollback");
        assertEquals(0, run(List.of(model, rollback), "model", "rollback", "--size", "7", "v3"));
        assertEquals(List.of("v3"), rollback.seen);
        assertEquals(7, rollback.sizeSeen);
        assertEquals(-1, model.sizeSeen);

        assertEquals(0, run(List.of(model, rollback), "model", "list"));
        assertEquals(List.of("list"), model.seen);
        assertEquals(3, model.sizeSeen);
    }

    @Test
    void oneConfigServesEveryCommandButTyposAreRefused(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        Setting<Integer> other = Setting.ofInt("other.size", 5, 1, 10, "Another command's size.");
        Probe a = new Probe("a");
        Command b = new Probe("b") {
            public List<Setting<?>> settings() { return List.of(other); }
        };
        java.nio.file.Path file = dir.resolve("freshet.properties");
        java.nio.file.Files.writeString(file, "test.size = 6\nother.size = 2\n");
        assertEquals(0, run(List.of(a, b), "a", "--config", file.toString()));
        assertEquals(6, a.sizeSeen);
        java.nio.file.Files.writeString(file, "test.size = 6\nother.sise = 2\n");
        assertEquals(2, run(List.of(a, b), "a", "--config", file.toString()));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("unknown setting other.sise"), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void helpListsCommandsAndCommandHelpPrintsUsage() {
        Probe a = new Probe("ingest");
        assertEquals(0, run(List.of(a, new SettingsCommand()), "--help"));
        String text = out.toString(StandardCharsets.UTF_8);
        assertTrue(text.contains("  ingest    Probe ingest."), text);
        assertTrue(text.contains("  settings  Print every setting"), text);

        out.reset();
        assertEquals(0, run(List.of(a), "ingest", "--help"));
        String usage = out.toString(StandardCharsets.UTF_8);
        assertTrue(usage.startsWith("usage: freshet ingest"), usage);
        assertTrue(usage.contains("--size, test.size  (int, default 3, 1..10)"), usage);
        assertEquals(-1, a.sizeSeen, "--help must not run the command");
    }

    @Test
    void badInputIsAUsageErrorThatSaysWhatToDo() {
        Probe a = new Probe("ingest");
        assertEquals(2, run(List.of(a), "inget"));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("unknown command 'inget'"), err.toString(StandardCharsets.UTF_8));
        err.reset();
        assertEquals(2, run(List.of(a), "ingest", "--size", "11"));
        String e = err.toString(StandardCharsets.UTF_8);
        assertTrue(e.contains("test.size = '11' is invalid") && e.contains("1..10"), e);
        err.reset();
        assertEquals(2, run(List.of(a), "ingest", "--set", "test.sise=2"));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("unknown setting test.sise"), err.toString(StandardCharsets.UTF_8));
        assertEquals(2, run(List.of(a)), "no command at all is a usage error");
    }

    @Test
    void everyRealCommandHasAUniqueNameASummaryAndConsistentSettings() {
        List<Command> all = FreshetCommands.all();
        assertEquals(all.size(), all.stream().map(Command::name).distinct().count(), "duplicate command names");
        for (Command c : all) {
            assertTrue(!c.summary().isBlank() && c.summary().endsWith("."), "summary of " + c.name() + ": " + c.summary());
            assertTrue(CommandLine.usage(c).startsWith("usage: freshet " + c.name()));
        }
        // Throws if one key has two different declarations anywhere in the product.
        FreshetCommands.settings(all);
    }

    @Test
    void twoDifferentDeclarationsOfOneKeyAreRefused() {
        Setting<Integer> other = Setting.ofInt("test.size", 4, 1, 10, "A size.");
        Command a = new Probe("a");
        Command b = new Probe("b") {
            public List<Setting<?>> settings() { return List.of(other); }
        };
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> FreshetCommands.settings(List.of(a, b)));
        assertTrue(e.getMessage().contains("test.size is declared twice"), e.getMessage());
    }
}
