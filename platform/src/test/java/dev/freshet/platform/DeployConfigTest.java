package dev.freshet.platform;

import dev.freshet.config.Command;
import dev.freshet.config.ConfigSource;
import dev.freshet.config.Setting;
import dev.freshet.featurestream.FeatureStreamConfig;
import dev.freshet.ingest.IngestConfig;
import dev.freshet.publisher.PublisherConfig;
import dev.freshet.serving.ServingConfig;
import dev.freshet.trainer.online.TrainerConfig;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The shared deployment config (deploy/freshet.properties) loads for every service and validates in each component's config. */
class DeployConfigTest {

    @Test
    void everyServiceAcceptsTheSharedFileAndOnlyTheAddressDiffers() {
        Path file = Path.of("").toAbsolutePath().getParent().resolve("deploy/freshet.properties");
        // As the compose services see it: the broker's address from the environment.
        ConfigSource c = ConfigSource.load(file, Map.of("FRESHET_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092"), List.of(),
                FreshetCommands.settings(FreshetCommands.all()));
        FeatureStreamConfig features = FeatureStreamConfig.from(c);
        TrainerConfig trainer = TrainerConfig.from(c);
        PublisherConfig publisher = PublisherConfig.from(c);
        ServingConfig serving = ServingConfig.from(c);
        IngestConfig ingest = IngestConfig.from(c);
        assertEquals("kafka:9092", features.bootstrapServers());
        assertEquals("kafka:9092", trainer.bootstrapServers());
        assertEquals("kafka:9092", publisher.bootstrapServers());
        assertEquals("kafka:9092", serving.bootstrapServers());
        assertEquals("kafka:9092", ingest.bootstrapServers());
        assertEquals(features.layout().id(), serving.layout().id(), "feature job and serving hash features the same way");
        assertEquals(publisher.storeDir(), serving.storeDir(), "publisher and serving share one model store");
    }

    /**
     * docker-compose.yml has never run (no Docker engine where it was written); this checks what can be checked
     * without one: every FRESHET_* variable it sets is the environment name of a declared setting (a misspelt one
     * would be ignored silently), and every freshet command its services run exists.
     */
    @Test
    void composeFileSetsOnlyDeclaredSettingsAndRunsExistingCommands() throws IOException {
        String compose = Files.readString(Path.of("").toAbsolutePath().getParent().resolve("docker-compose.yml"));
        Set<String> envNames = FreshetCommands.settings(FreshetCommands.all()).stream().map(Setting::envName).collect(Collectors.toSet());
        Matcher env = Pattern.compile("^\\s+(FRESHET_[A-Z0-9_]+):", Pattern.MULTILINE).matcher(compose);
        List<String> vars = new ArrayList<>();
        while (env.find()) vars.add(env.group(1));
        assertTrue(vars.size() >= 8, "FRESHET_* variables found in docker-compose.yml: " + vars);
        for (String v : vars) assertTrue(envNames.contains(v), v + " in docker-compose.yml is no setting's environment name");

        Set<String> commands = FreshetCommands.all().stream().map(Command::name).collect(Collectors.toSet());
        List<String> run = new ArrayList<>();
        // exec form, command: ["ingest", "synthetic", "--config", ...]: the words before the first option
        Matcher exec = Pattern.compile("command: \\[([^\\]]*)\\]").matcher(compose);
        while (exec.find()) {
            List<String> words = new ArrayList<>();
            for (String w : exec.group(1).split(",")) {
                String word = w.trim().replace("\"", "");
                if (word.startsWith("--")) break;
                words.add(word);
            }
            run.add(String.join(" ", words));
        }
        // the Flink JobManager in application mode runs the freshet dispatcher with its arguments
        Matcher job = Pattern.compile("--job-classname dev\\.freshet\\.platform\\.Freshet\\s+([a-z-]+)").matcher(compose);
        while (job.find()) run.add(job.group(1));
        assertEquals(Set.of("topics", "features", "publish", "serve", "ingest synthetic"), Set.copyOf(run),
                "the freshet commands docker-compose.yml runs");
        for (String c : run) assertTrue(commands.contains(c), "docker-compose.yml runs 'freshet " + c + "', which is no command");
    }
}
