package dev.freshet.ingest;

import dev.freshet.config.CommonSettings;
import dev.freshet.config.ConfigException;
import dev.freshet.config.ConfigSource;
import dev.freshet.config.Setting;
import dev.freshet.schemas.Topics;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Objects;

/**
 * How click events are produced to Kafka and how the replay paces and stamps them.
 *
 * @param bootstrapServers Kafka bootstrap servers
 * @param topics           topic names (the events go to {@link Topics#clicks()})
 * @param batchBytes       producer batch size per partition, bytes
 * @param linger           how long the producer waits to fill a batch
 * @param compression      batch compression
 * @param bufferBytes      memory for records not yet acknowledged; {@code send} blocks when it is full
 * @param maxBlock         longest {@code send} blocks on a full buffer before it fails
 * @param rate             replay rate limit in events/s; 0 means as fast as possible
 * @param eventTime        where event times come from when the layout has no event-time column
 * @param eventTimeStart   first event time of the {@code sequence} policy
 * @param eventTimeStep    event-time step between lines of the {@code sequence} policy
 * @param reasonsShown     how many reject reasons the replay prints at the end
 */
public record IngestConfig(String bootstrapServers, Topics topics, int batchBytes, Duration linger, Compression compression,
                           long bufferBytes, Duration maxBlock, double rate, EventTimePolicy eventTime,
                           Instant eventTimeStart, Duration eventTimeStep, int reasonsShown) {

    /** Batch compression; lz4 costs little CPU and shrinks Criteo rows about 2x. */
    public enum Compression { NONE, LZ4, GZIP }

    /** WALL_CLOCK stamps each event with the time it is read; SEQUENCE with start + ordinal * step (reproducible). */
    public enum EventTimePolicy { WALL_CLOCK, SEQUENCE }

    public static final Setting<Integer> BATCH_BYTES = Setting.ofInt("ingest.batch-bytes", 256 * 1024, 1024, 16 * 1024 * 1024,
            "Producer batch size per partition in bytes; bigger batches compress better and cost fewer requests.");
    public static final Setting<Duration> LINGER = Setting.ofDuration("ingest.linger", "5ms", Duration.ZERO, Duration.ofSeconds(10),
            "How long the producer waits to fill a batch; a few ms raise throughput at a small latency cost.");
    public static final Setting<Compression> COMPRESSION = Setting.ofEnum("ingest.compression", Compression.class, Compression.LZ4,
            "Compression of produced batches.");
    public static final Setting<Long> BUFFER_BYTES = Setting.ofLong("ingest.buffer-bytes", 64L * 1024 * 1024, 1024L * 1024, 4L << 30,
            "Memory for events sent but not yet acknowledged; sending blocks when it is full (back-pressure).");
    public static final Setting<Duration> MAX_BLOCK = Setting.ofDuration("ingest.max-block", "60s", Duration.ofMillis(1), Duration.ofHours(1),
            "Longest a send waits for buffer space or topic metadata before it fails.");
    public static final Setting<Double> RATE = Setting.ofDouble("ingest.rate", 0, 0, 1e9,
            "Replay rate limit in events per second; 0 replays as fast as Kafka accepts.");
    public static final Setting<EventTimePolicy> EVENT_TIME = Setting.ofEnum("ingest.event-time", EventTimePolicy.class,
            EventTimePolicy.WALL_CLOCK, "Event time of lines without an event-time column: wall-clock (when read) or sequence (start + n * step).");
    public static final Setting<Instant> EVENT_TIME_START = new Setting<>("ingest.event-time-start", "instant", "2023-11-14T22:13:20Z",
            "ISO-8601 instant or epoch milliseconds", "First event time of the sequence policy.",
            IngestConfig::parseInstant, t -> true);
    public static final Setting<Duration> EVENT_TIME_STEP = Setting.ofDuration("ingest.event-time-step", "1ms", Duration.ZERO, Duration.ofDays(1),
            "Event-time step between consecutive lines under the sequence policy.");
    public static final Setting<Integer> REASONS_SHOWN = Setting.ofInt("ingest.reasons-shown", 10, 0, 10_000,
            "How many reject reasons the replay prints when it ends (all rejects are counted).");

    public static final List<Setting<?>> SETTINGS = List.of(CommonSettings.BOOTSTRAP_SERVERS, Topics.PREFIX, BATCH_BYTES, LINGER,
            COMPRESSION, BUFFER_BYTES, MAX_BLOCK, RATE, EVENT_TIME, EVENT_TIME_START, EVENT_TIME_STEP, REASONS_SHOWN);

    public IngestConfig {
        Objects.requireNonNull(bootstrapServers, "bootstrapServers");
        Objects.requireNonNull(topics, "topics");
        Objects.requireNonNull(linger, "linger");
        Objects.requireNonNull(compression, "compression");
        Objects.requireNonNull(maxBlock, "maxBlock");
        Objects.requireNonNull(eventTime, "eventTime");
        Objects.requireNonNull(eventTimeStart, "eventTimeStart");
        Objects.requireNonNull(eventTimeStep, "eventTimeStep");
        if (bootstrapServers.isBlank()) {
            throw new ConfigException("kafka.bootstrap-servers is empty. Fix: set it to host:port, e.g. 127.0.0.1:9092.");
        }
        if (batchBytes < 1) {
            throw new ConfigException("ingest.batch-bytes = " + batchBytes + " must be positive. Fix: use the default 262144.");
        }
        if (bufferBytes < batchBytes) {
            throw new ConfigException("ingest.buffer-bytes = " + bufferBytes + " is smaller than ingest.batch-bytes = " + batchBytes
                    + ": not even one batch fits. Fix: raise ingest.buffer-bytes or lower ingest.batch-bytes.");
        }
        if (!(rate >= 0) || Double.isInfinite(rate)) {
            throw new ConfigException("ingest.rate = " + rate + " must be a finite number >= 0 (0 = unlimited).");
        }
        if (reasonsShown < 0) {
            throw new ConfigException("ingest.reasons-shown = " + reasonsShown + " must be >= 0.");
        }
    }

    public static IngestConfig from(ConfigSource source) {
        return new IngestConfig(source.get(CommonSettings.BOOTSTRAP_SERVERS), Topics.from(source), source.get(BATCH_BYTES),
                source.get(LINGER), source.get(COMPRESSION), source.get(BUFFER_BYTES), source.get(MAX_BLOCK), source.get(RATE),
                source.get(EVENT_TIME), source.get(EVENT_TIME_START), source.get(EVENT_TIME_STEP), source.get(REASONS_SHOWN));
    }

    /** The defaults, producing to {@code bootstrapServers}. */
    public static IngestConfig defaults(String bootstrapServers) {
        return from(ConfigSource.of(java.util.Map.of(CommonSettings.BOOTSTRAP_SERVERS.key(), bootstrapServers)));
    }

    public IngestConfig withRate(double eventsPerSecond) {
        return new IngestConfig(bootstrapServers, topics, batchBytes, linger, compression, bufferBytes, maxBlock, eventsPerSecond,
                eventTime, eventTimeStart, eventTimeStep, reasonsShown);
    }

    public IngestConfig withTopics(Topics newTopics) {
        return new IngestConfig(bootstrapServers, newTopics, batchBytes, linger, compression, bufferBytes, maxBlock, rate,
                eventTime, eventTimeStart, eventTimeStep, reasonsShown);
    }

    public IngestConfig withSequenceTimes(Instant start, Duration step) {
        return new IngestConfig(bootstrapServers, topics, batchBytes, linger, compression, bufferBytes, maxBlock, rate,
                EventTimePolicy.SEQUENCE, start, step, reasonsShown);
    }

    private static Instant parseInstant(String text) {
        if (text.matches("-?\\d+")) {
            return Instant.ofEpochMilli(Long.parseLong(text));
        }
        return Instant.parse(text);
    }
}
