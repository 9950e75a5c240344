package dev.freshet.ingest;

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
 * The JSON-to-Avro click topology ({@link JsonClickTopology}).
 *
 * @param bootstrapServers Kafka bootstrap servers
 * @param topics           reads {@code clicksJson}, writes {@code clicks} and {@code clicksDlq}
 * @param applicationId    Kafka Streams application id (consumer group and transactional id prefix)
 * @param maxRecordBytes   JSON records larger than this are rejected unread
 * @param threads          stream threads
 * @param commitInterval   how often the exactly-once transaction commits; output becomes visible then
 * @param workDir          Freshet's work directory; Streams keeps its state under {@code streams/<applicationId>} there
 */
public record JsonIngestConfig(String bootstrapServers, Topics topics, String applicationId, int maxRecordBytes, int threads,
                               Duration commitInterval, Path workDir) {

    public static final Setting<String> APPLICATION_ID = new Setting<>("ingest.json.application-id", "string", "freshet-ingest-json",
            "letters, digits, '.', '_', '-'", "Kafka Streams application id of the JSON click topology; one per deployment.",
            s -> s, s -> s.matches("[A-Za-z0-9._-]+"));
    public static final Setting<Integer> MAX_RECORD_BYTES = Setting.ofInt("ingest.json.max-record-bytes", 64 * 1024, 64, 16 * 1024 * 1024,
            "JSON click events larger than this go to the dead-letter topic unread.");
    public static final Setting<Integer> THREADS = Setting.ofInt("ingest.json.threads", 1, 1, 64,
            "Stream threads of the JSON click topology; more than the partitions of clicks.json is useless.");
    public static final Setting<Duration> COMMIT_INTERVAL = Setting.ofDuration("ingest.json.commit-interval", "100ms",
            Duration.ofMillis(10), Duration.ofMinutes(1),
            "Exactly-once commit interval: converted events become visible to read_committed consumers at each commit.");

    public static final List<Setting<?>> SETTINGS = List.of(CommonSettings.BOOTSTRAP_SERVERS, Topics.PREFIX, CommonSettings.WORK_DIR,
            APPLICATION_ID, MAX_RECORD_BYTES, THREADS, COMMIT_INTERVAL);

    public JsonIngestConfig {
        Objects.requireNonNull(bootstrapServers, "bootstrapServers");
        Objects.requireNonNull(topics, "topics");
        Objects.requireNonNull(applicationId, "applicationId");
        Objects.requireNonNull(commitInterval, "commitInterval");
        Objects.requireNonNull(workDir, "workDir");
        if (maxRecordBytes < 64) {
            throw new ConfigException("ingest.json.max-record-bytes = " + maxRecordBytes + " is below 64; no click event fits. Fix: use the default 65536.");
        }
        if (threads < 1) {
            throw new ConfigException("ingest.json.threads = " + threads + " must be at least 1.");
        }
    }

    public static JsonIngestConfig from(ConfigSource source) {
        return new JsonIngestConfig(source.get(CommonSettings.BOOTSTRAP_SERVERS), Topics.from(source), source.get(APPLICATION_ID),
                source.get(MAX_RECORD_BYTES), source.get(THREADS), source.get(COMMIT_INTERVAL), source.get(CommonSettings.WORK_DIR));
    }

    /** Kafka Streams' {@code state.dir}; Streams adds the application id below it. */
    public Path stateDir() {
        return workDir.resolve("streams");
    }
}
