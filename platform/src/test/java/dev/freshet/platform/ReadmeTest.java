package dev.freshet.platform;

import dev.freshet.platform.internal.ReferenceTables;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README states commands and settings once, generated from their declarations; this keeps it so. */
class ReadmeTest {
    private static Path readme() {
        // Surefire runs in the module directory; the README is at the repository root.
        return Path.of("").toAbsolutePath().getParent().resolve("README.md");
    }

    @Test
    void generatedSectionsMatchTheDeclarations() throws Exception {
        String text = Files.readString(readme(), StandardCharsets.UTF_8);
        String expected = ReferenceTables.updateReadme(text, FreshetCommands.all());
        assertEquals(expected, text, "README.md's generated commands/settings sections are stale. Fix: run ./freshet settings README.md");
    }

    @Test
    void theFirstLinesAreTheTwoSetUpCommands() throws Exception {
        List<String> lines = Files.readAllLines(readme(), StandardCharsets.UTF_8).stream().filter(l -> l.startsWith("./freshet") || l.startsWith("mvn")).toList();
        assertTrue(lines.size() >= 2 && lines.get(0).startsWith("./freshet demo") && lines.get(1).startsWith("mvn -B verify"), lines.toString());
    }

    @Test
    void settingsTableEscapesPipesAndSortsByKey() {
        var a = dev.freshet.config.Setting.ofBoolean("b.flag", true, "On or off.");
        var b = dev.freshet.config.Setting.ofInt("a.size", 3, 1, 10, "A | size.");
        assertEquals("""
                | key | type | default | allowed | what it does |
                | --- | --- | --- | --- | --- |
                | `a.size` | int | `3` | 1..10 | A \\| size. |
                | `b.flag` | boolean | `true` | true\\|false | On or off. |
                """, ReferenceTables.settingsTable(List.of(a, b)));
    }
}
