package dev.freshet.serving;

import dev.freshet.config.CommonSettings;
import dev.freshet.config.ConfigException;
import dev.freshet.config.ConfigSource;
import dev.freshet.config.Setting;
import dev.freshet.features.FeatureLayout;
import dev.freshet.publisher.PublisherConfig;
import dev.freshet.schemas.Topics;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Settings of a serving replica: where the model store and the model-update topic are, and where the
 * reference HTTP server listens.
 *
 * @param layout the feature layout to use for a version whose manifest names none
 */
public record ServingConfig(String bootstrapServers, Topics topics, Path storeDir, String modelName, FeatureLayout layout,
                            String host, int port, Duration pollTimeout, int maxBatch) {

    public static final Setting<String> HOST = Setting.ofString("serving.host", "127.0.0.1",
            "Address the serving HTTP server binds; loopback by default so nothing is exposed unless asked.");
    public static final Setting<Integer> PORT = Setting.ofInt("serving.port", 8088, 0, 65535,
            "Port of the serving HTTP server (0: any free port).");
    public static final Setting<Duration> POLL_TIMEOUT = Setting.ofDuration("serving.poll-timeout", "100ms",
            Duration.ofMillis(1), Duration.ofSeconds(10), "How long the subscriber's consumer waits for model updates per poll.");
    public static final Setting<Integer> MAX_BATCH = Setting.ofInt("serving.max-batch", 4096, 1, 1 << 20,
            "Most click events one /predict request may carry.");

    public static final List<Setting<?>> SETTINGS;

    static {
        List<Setting<?>> s = new ArrayList<>(List.of(CommonSettings.BOOTSTRAP_SERVERS, Topics.PREFIX, PublisherConfig.STORE_DIR,
                PublisherConfig.MODEL_NAME, HOST, PORT, POLL_TIMEOUT, MAX_BATCH));
        s.addAll(FeatureLayout.SETTINGS);
        SETTINGS = List.copyOf(s);
    }

    public ServingConfig {
        Objects.requireNonNull(bootstrapServers, "bootstrapServers");
        Objects.requireNonNull(topics, "topics");
        Objects.requireNonNull(storeDir, "storeDir");
        Objects.requireNonNull(modelName, "modelName");
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(pollTimeout, "pollTimeout");
        if (port < 0 || port > 65535) throw new ConfigException(PORT.key() + " = " + port + " out of range 0..65535");
        if (maxBatch < 1) throw new ConfigException(MAX_BATCH.key() + " = " + maxBatch + " must be at least 1");
    }

    public static ServingConfig from(ConfigSource c) {
        return new ServingConfig(c.get(CommonSettings.BOOTSTRAP_SERVERS), Topics.from(c), c.get(PublisherConfig.STORE_DIR),
                c.get(PublisherConfig.MODEL_NAME), FeatureLayout.from(c), c.get(HOST), c.get(PORT), c.get(POLL_TIMEOUT), c.get(MAX_BATCH));
    }
}
