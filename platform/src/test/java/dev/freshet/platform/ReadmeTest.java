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
        String expected = ReferenceTables.updateReference(text, FreshetCommands.all());
        assertEquals(expected, text, "README.md's generated commands/settings sections are stale. Fix: run ./freshet settings README.md");
    }

    @Test
    void theFirstLinesAreTheTwoSetUpCommands() throws Exception {
        List<String> lines = Files.readAllLines(readme(), StandardCharsets.UTF_8).stream().filter(l -> l.startsWith("./freshet") || l.startsWith("mvn")).toList();
        assertTrue(lines.size() >= 2 && lines.get(0).startsWith("./freshet demo") && lines.get(1).startsWith("mvn -B verify"), lines.toString());
    }

    @Test
    void benchmarkTablesComeFromTheResultFilesWithTargetsChecked(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("pipeline.json"), """
                {"command": "mvn bench", "machine": "vm, 2 cores", "date": "2026-11-21T23:00:00Z", "figures": [
                  {"name": "events_per_s", "value": 12345.6, "unit": "events/s", "higher_is_better": true, "target": 10000},
                  {"name": "p99", "value": 1.5, "unit": "s", "higher_is_better": false, "target": 1.0},
                  {"name": "count", "value": 42, "unit": "events", "higher_is_better": true, "target": null}]}
                """);
        assertEquals("""
                #### pipeline

                `mvn bench` \s
                vm, 2 cores, 2026-11-21T23:00:00Z

                | figure | value | unit | target | met |
                | --- | --- | --- | --- | --- |
                | events_per_s | 12,346 | events/s | ≥ 10,000 | yes |
                | p99 | 1.50 | s | ≤ 1 | **no** |
                | count | 42 | events |  |  |

                """, ReferenceTables.benchTables(dir));
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
