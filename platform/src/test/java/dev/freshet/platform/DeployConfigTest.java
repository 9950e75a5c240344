package dev.freshet.platform;

import dev.freshet.config.ConfigSource;
import dev.freshet.featurestream.FeatureStreamConfig;
import dev.freshet.ingest.IngestConfig;
import dev.freshet.publisher.PublisherConfig;
import dev.freshet.serving.ServingConfig;
import dev.freshet.trainer.online.TrainerConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
}
