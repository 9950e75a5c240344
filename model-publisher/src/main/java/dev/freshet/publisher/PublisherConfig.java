package dev.freshet.publisher;

import dev.freshet.config.CommonSettings;
import dev.freshet.config.ConfigException;
import dev.freshet.config.ConfigSource;
import dev.freshet.config.Setting;
import dev.freshet.schemas.Topics;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * Settings of the model publisher (and the store location and model name that serving shares).
 *
 * @param maxChunkBytes   upper bound of one DELTA chunk's payload; the topic's {@code max.message.bytes}
 *                        lowers it further at start-up
 * @param fullInterval    a FULL is requested once the newest is older than this
 * @param keepVersions    the store keeps this many newest versions (plus what rebuilding the newest needs)
 * @param maxAucDrop      the quality gate refuses a version whose progressive AUC is more than this below
 *                        the last published version's
 */
public record PublisherConfig(String bootstrapServers, Topics topics, Path storeDir, String modelName,
                              String transactionalId, int maxChunkBytes, Duration fullInterval, int keepVersions,
                              double maxAucDrop) {

    public static final Setting<Path> STORE_DIR = Setting.ofPath("model.store-dir", "freshet-work/models",
            "Root of the versioned model store (one directory per model and version); publisher and serving must share it.");
    public static final Setting<String> MODEL_NAME = new Setting<>("model.name", "string", "dlrm",
            "letters, digits, '.', '_', '-' (at most 128)", "Name of the model: key of its model-update records and its directory in the store.",
            s -> s, s -> s.matches("[A-Za-z0-9][A-Za-z0-9._-]{0,127}"));
    public static final Setting<String> TRANSACTIONAL_ID = Setting.ofString("publisher.transactional-id", "freshet-publisher",
            "Kafka transactional.id prefix of the publisher (the model name is appended); one live publisher per id.");
    public static final Setting<Integer> MAX_CHUNK_BYTES = Setting.ofInt("publisher.max-chunk-bytes", 900_000, 4096, 64 << 20,
            "Largest DELTA chunk payload in bytes; lowered to fit the model-updates topic's max.message.bytes.");
    public static final Setting<Duration> FULL_INTERVAL = Setting.ofDuration("publisher.full-interval", "10m",
            Duration.ofSeconds(1), Duration.ofDays(7), "Request a FULL snapshot once the newest FULL is older than this.");
    public static final Setting<Integer> KEEP_VERSIONS = Setting.ofInt("publisher.keep-versions", 20, 1, 100_000,
            "Versions kept in the store besides the newest FULL and the DELTAs after it.");
    public static final Setting<Double> MAX_AUC_DROP = Setting.ofDouble("publisher.max-auc-drop", 0.02, 0, 1,
            "Quality gate: refuse a version whose progressive AUC is more than this below the last published one's.");

    public static final List<Setting<?>> SETTINGS = List.of(CommonSettings.BOOTSTRAP_SERVERS, Topics.PREFIX, STORE_DIR, MODEL_NAME,
            TRANSACTIONAL_ID, MAX_CHUNK_BYTES, FULL_INTERVAL, KEEP_VERSIONS, MAX_AUC_DROP);

    public PublisherConfig {
        Objects.requireNonNull(bootstrapServers, "bootstrapServers");
        Objects.requireNonNull(topics, "topics");
        Objects.requireNonNull(storeDir, "storeDir");
        Objects.requireNonNull(modelName, "modelName");
        Objects.requireNonNull(transactionalId, "transactionalId");
        Objects.requireNonNull(fullInterval, "fullInterval");
        if (maxChunkBytes < 4096) {
            throw new ConfigException(MAX_CHUNK_BYTES.key() + " = " + maxChunkBytes + " is below 4096. Fix: set it to e.g. 900000");
        }
        if (keepVersions < 1) {
            throw new ConfigException(KEEP_VERSIONS.key() + " = " + keepVersions + " must be at least 1");
        }
        if (!(maxAucDrop >= 0 && maxAucDrop <= 1)) {
            throw new ConfigException(MAX_AUC_DROP.key() + " = " + maxAucDrop + " must lie in [0, 1]");
        }
    }

    public static PublisherConfig from(ConfigSource c) {
        return new PublisherConfig(c.get(CommonSettings.BOOTSTRAP_SERVERS), Topics.from(c), c.get(STORE_DIR), c.get(MODEL_NAME),
                c.get(TRANSACTIONAL_ID), c.get(MAX_CHUNK_BYTES), c.get(FULL_INTERVAL), c.get(KEEP_VERSIONS), c.get(MAX_AUC_DROP));
    }
}
