package dev.freshet.featurestream;

import dev.freshet.config.CommandLine;
import dev.freshet.config.ConfigException;
import dev.freshet.config.ConfigSource;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FeatureStreamConfigTest {

    @Test
    void defaultsAreTheDeclaredOnes() {
        FeatureStreamConfig c = FeatureStreamConfig.from(ConfigSource.empty());
        assertEquals("127.0.0.1:9092", c.bootstrapServers());
        assertEquals("clicks", c.topics().clicks());
        assertEquals("features.dlq", c.topics().featuresDlq());
        assertEquals(Duration.ofSeconds(5), c.checkpointInterval());
        assertEquals(1024, c.batchSize());
        assertEquals(26, c.layout().numCategorical());
        assertEquals(Path.of("freshet-work"), c.workDir());
    }

    @Test
    void settingsComeFromTheOneLoaderWithPrefixAndLayout() {
        FeatureStreamConfig c = FeatureStreamConfig.from(ConfigSource.of(Map.of("topics.prefix", "t1.",
                "feature-stream.batch-size", "4096", "feature-stream.label-window", "90s",
                "features.columns", "label:label,user:categorical:10,price:numeric")));
        assertEquals("t1.features", c.topics().features());
        assertEquals(4096, c.batchSize());
        assertEquals(Duration.ofSeconds(90), c.labelWindow());
        assertEquals(1, c.layout().numDense());
    }

    @Test
    void aBadValueNamesTheKeyTheValueTheRangeAndAFix() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> FeatureStreamConfig.from(ConfigSource.of(Map.of("feature-stream.batch-size", "5000"))));
        assertTrue(e.getMessage().contains("feature-stream.batch-size = '5000'") && e.getMessage().contains("1..4096")
                && e.getMessage().contains("Fix"), e.getMessage());
    }

    @Test
    void aCheckpointIntervalTheKafkaTransactionTimeoutCannotCoverIsRefused() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> FeatureStreamConfig.from(ConfigSource.of(Map.of("feature-stream.checkpoint-interval", "10m"))));
        assertTrue(e.getMessage().contains("conflicts with the Kafka transaction timeout 15m") && e.getMessage().contains("at most 450s"),
                e.getMessage());
    }

    @Test
    void theCommandAcceptsEveryDeclaredSettingAndRejectsTypos() {
        FeaturesCommand command = new FeaturesCommand();
        assertEquals("features", command.name());
        CommandLine line = CommandLine.parse(new String[]{"--parallelism", "2", "--set", "feature-stream.linger=50ms"},
                command.settings(), command.aliases(), Map.of());
        FeatureStreamConfig c = FeatureStreamConfig.from(line.config());
        assertEquals(2, c.parallelism());
        assertEquals(Duration.ofMillis(50), c.linger());
        assertThrows(ConfigException.class, () -> CommandLine.parse(new String[]{"--set", "feature-stream.lingr=5ms"},
                command.settings(), command.aliases(), Map.of()));
        String usage = CommandLine.usage(command);
        for (var s : List.of(FeatureStreamConfig.DEDUP_WINDOW, FeatureStreamConfig.STATS_WINDOW, FeatureStreamConfig.TOP_K)) {
            assertTrue(usage.contains(s.key()), s.key());
        }
    }
}
