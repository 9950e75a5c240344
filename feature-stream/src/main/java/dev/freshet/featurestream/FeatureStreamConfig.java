package dev.freshet.featurestream;

import dev.freshet.config.CommonSettings;
import dev.freshet.config.ConfigException;
import dev.freshet.config.ConfigSource;
import dev.freshet.config.Durations;
import dev.freshet.config.Setting;
import dev.freshet.features.FeatureLayout;
import dev.freshet.schemas.Topics;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Settings of the feature job (clicks to training examples). Built with {@link #from(ConfigSource)};
 * every value is checked here, so a job that starts has a consistent configuration.
 *
 * @param bootstrapServers      Kafka bootstrap servers
 * @param topics                topic names (with {@code topics.prefix})
 * @param layout                the feature layout events must follow
 * @param parallelism           Flink parallelism of every operator
 * @param checkpointInterval    how often state and Kafka transactions are committed; also the end-to-end latency floor
 * @param dedupWindow           an event id seen again within this event-time window is dropped
 * @param labelWindow           how long an impression waits (event time) for its click before it is labelled 0
 * @param allowedLateness       bound on event-time disorder: watermarks trail the largest event time by this much
 * @param idleTimeout           a source partition without records for this long stops holding the watermark back
 * @param statsWindow           tumbling event-time window of the ID-frequency statistics
 * @param topK                  heavy hitters reported per table and window
 * @param batchSize             examples per {@code FeatureBatch} record
 * @param linger                longest a partly filled batch waits for more examples (processing time)
 * @param groupId               consumer group of the Kafka source (offsets committed on checkpoints)
 * @param transactionalIdPrefix prefix of the Kafka sinks' transactional ids; unique per job in a cluster
 * @param workDir               Freshet's work directory; Flink's temp dirs and checkpoints go under it
 */
public record FeatureStreamConfig(String bootstrapServers, Topics topics, FeatureLayout layout, int parallelism,
                                  Duration checkpointInterval, Duration dedupWindow, Duration labelWindow,
                                  Duration allowedLateness, Duration idleTimeout, Duration statsWindow, int topK,
                                  int batchSize, Duration linger, String groupId, String transactionalIdPrefix,
                                  Path workDir) {

    /**
     * Flink's exactly-once Kafka sink keeps a transaction open from one checkpoint to the next; the
     * broker's default {@code transaction.max.timeout.ms} is 15 minutes and a larger producer value is
     * refused, so the producer asks for exactly that.
     */
    public static final Duration TRANSACTION_TIMEOUT = Duration.ofMinutes(15);
    /**
     * A FeatureBatch of the largest allowed size must fit Kafka's default 1 MiB record limit: a Criteo
     * example takes 1 + 13*4 + 26*4 + 8 bytes plus its event id (about 40), so about 205 bytes.
     */
    public static final int MAX_BATCH_SIZE = 4096;

    /**
     * Key groups of the job's keyed state (dedup, join, statistics), fixed so that a checkpoint taken at one
     * parallelism restores at any other up to this many subtasks (Flink moves keyed state in whole key groups).
     * Flink's own default for a parallelism up to 85, so checkpoints from before it was fixed restore too; each
     * key group holds some of the dedup's 1,024 buckets (Deduplicator.BUCKETS), so no subtask is left without work.
     */
    public static final int MAX_PARALLELISM = 128;

    public static final Setting<String> BOOTSTRAP_SERVERS = CommonSettings.BOOTSTRAP_SERVERS;
    public static final Setting<Integer> PARALLELISM = Setting.ofInt("feature-stream.parallelism", 1, 1, MAX_PARALLELISM,
            "Parallelism of the feature job's operators; at most the number of 'clicks' partitions is useful, and at most "
                    + MAX_PARALLELISM + ", the number of key groups of its state.");
    public static final Setting<Duration> CHECKPOINT_INTERVAL = Setting.ofDuration("feature-stream.checkpoint-interval", "5s",
            Duration.ofMillis(100), Duration.ofMinutes(10),
            "Checkpoint interval: examples become visible on 'features' (read_committed) when a checkpoint completes.");
    public static final Setting<Duration> DEDUP_WINDOW = Setting.ofDuration("feature-stream.dedup-window", "1m",
            Duration.ZERO, Duration.ofDays(1),
            "An event whose id was seen within this event-time window is dropped as a duplicate (0 turns dedup off); state grows with events/s times the window.");
    public static final Setting<Duration> LABEL_WINDOW = Setting.ofDuration("feature-stream.label-window", "5m",
            Duration.ofMillis(1), Duration.ofDays(1),
            "An impression is labelled 1 if its click arrives within this event-time window, else 0 when the window closes.");
    public static final Setting<Duration> ALLOWED_LATENESS = Setting.ofDuration("feature-stream.allowed-lateness", "5s",
            Duration.ZERO, Duration.ofHours(1),
            "Event-time disorder the job waits for: watermarks trail the largest event time seen by this much.");
    public static final Setting<Duration> IDLE_TIMEOUT = Setting.ofDuration("feature-stream.idle-timeout", "10s",
            Duration.ofMillis(100), Duration.ofHours(1),
            "A 'clicks' partition without records for this long no longer holds the watermark back.");
    public static final Setting<Duration> STATS_WINDOW = Setting.ofDuration("feature-stream.stats-window", "1m",
            Duration.ofMillis(100), Duration.ofDays(1),
            "Tumbling event-time window of the per-table ID-frequency statistics on 'feature-stats'.");
    public static final Setting<Integer> TOP_K = Setting.ofInt("feature-stream.top-k", 1000, 1, 100_000,
            "Heavy-hitter rows reported per embedding table and stats window.");
    public static final Setting<Integer> BATCH_SIZE = Setting.ofInt("feature-stream.batch-size", 1024, 1, MAX_BATCH_SIZE,
            "Examples per FeatureBatch record on 'features'.");
    public static final Setting<Duration> LINGER = Setting.ofDuration("feature-stream.linger", "200ms",
            Duration.ofMillis(1), Duration.ofMinutes(1),
            "Longest a partly filled batch waits for more examples before it is written.");
    public static final Setting<String> GROUP_ID = Setting.ofString("feature-stream.group-id", "freshet-features",
            "Consumer group of the job's Kafka source; offsets are committed when checkpoints complete.");
    public static final Setting<String> TRANSACTIONAL_ID_PREFIX = new Setting<>("feature-stream.transactional-id-prefix", "string",
            "freshet-features", "letters, digits, '.', '_', '-'",
            "Prefix of the Kafka sinks' transactional ids; must differ between jobs writing to one cluster.",
            s -> s, s -> s.matches("[A-Za-z0-9._-]+"));
    public static final Setting<Path> WORK_DIR = CommonSettings.WORK_DIR;

    public static final List<Setting<?>> SETTINGS = List.of(BOOTSTRAP_SERVERS, PARALLELISM, CHECKPOINT_INTERVAL, DEDUP_WINDOW,
            LABEL_WINDOW, ALLOWED_LATENESS, IDLE_TIMEOUT, STATS_WINDOW, TOP_K, BATCH_SIZE, LINGER, GROUP_ID,
            TRANSACTIONAL_ID_PREFIX, WORK_DIR);

    public FeatureStreamConfig {
        Objects.requireNonNull(bootstrapServers, "bootstrapServers");
        Objects.requireNonNull(topics, "topics");
        Objects.requireNonNull(layout, "layout");
        Objects.requireNonNull(groupId, "groupId");
        Objects.requireNonNull(transactionalIdPrefix, "transactionalIdPrefix");
        Objects.requireNonNull(workDir, "workDir");
        check(PARALLELISM, parallelism, parallelism >= 1 && parallelism <= MAX_PARALLELISM);
        check(CHECKPOINT_INTERVAL, checkpointInterval, within(checkpointInterval, Duration.ofMillis(100), Duration.ofMinutes(10)));
        check(DEDUP_WINDOW, dedupWindow, within(dedupWindow, Duration.ZERO, Duration.ofDays(1)));
        check(LABEL_WINDOW, labelWindow, within(labelWindow, Duration.ofMillis(1), Duration.ofDays(1)));
        check(ALLOWED_LATENESS, allowedLateness, within(allowedLateness, Duration.ZERO, Duration.ofHours(1)));
        check(IDLE_TIMEOUT, idleTimeout, within(idleTimeout, Duration.ofMillis(100), Duration.ofHours(1)));
        check(STATS_WINDOW, statsWindow, within(statsWindow, Duration.ofMillis(100), Duration.ofDays(1)));
        check(TOP_K, topK, topK >= 1 && topK <= 100_000);
        check(BATCH_SIZE, batchSize, batchSize >= 1 && batchSize <= MAX_BATCH_SIZE);
        check(LINGER, linger, within(linger, Duration.ofMillis(1), Duration.ofMinutes(1)));
        if (layout.numDense() + layout.numCategorical() == 0) {
            throw new ConfigException("the feature layout has no features. Fix: set features.columns.");
        }
        // A transaction that stays open longer than the broker allows is aborted by the broker: the
        // checkpoint that should commit it would then fail forever.
        if (checkpointInterval.multipliedBy(2).compareTo(TRANSACTION_TIMEOUT) > 0) {
            throw new ConfigException("setting " + CHECKPOINT_INTERVAL.key() + " = " + Durations.format(checkpointInterval)
                    + " conflicts with the Kafka transaction timeout " + Durations.format(TRANSACTION_TIMEOUT)
                    + ": a transaction spans at least one interval and must finish well within the timeout. Fix: set it to at most "
                    + Durations.format(TRANSACTION_TIMEOUT.dividedBy(2)) + ".");
        }
    }

    public static FeatureStreamConfig from(ConfigSource config) {
        Objects.requireNonNull(config, "config");
        return new FeatureStreamConfig(config.get(BOOTSTRAP_SERVERS), Topics.from(config), FeatureLayout.from(config),
                config.get(PARALLELISM), config.get(CHECKPOINT_INTERVAL), config.get(DEDUP_WINDOW), config.get(LABEL_WINDOW),
                config.get(ALLOWED_LATENESS), config.get(IDLE_TIMEOUT), config.get(STATS_WINDOW), config.get(TOP_K),
                config.get(BATCH_SIZE), config.get(LINGER), config.get(GROUP_ID), config.get(TRANSACTIONAL_ID_PREFIX),
                config.get(WORK_DIR));
    }

    /** Every setting the job reads: its own, the topic names and the feature layout. */
    public static List<Setting<?>> allSettings() {
        List<Setting<?>> all = new ArrayList<>(SETTINGS);
        all.addAll(Topics.SETTINGS);
        all.addAll(FeatureLayout.SETTINGS);
        return List.copyOf(all);
    }

    /** A copy with a different parallelism (benchmarks run the same job at several). */
    public FeatureStreamConfig withParallelism(int p) {
        return new FeatureStreamConfig(bootstrapServers, topics, layout, p, checkpointInterval, dedupWindow, labelWindow,
                allowedLateness, idleTimeout, statsWindow, topK, batchSize, linger, groupId, transactionalIdPrefix, workDir);
    }

    private static boolean within(Duration d, Duration min, Duration max) {
        return d != null && d.compareTo(min) >= 0 && d.compareTo(max) <= 0;
    }

    private static void check(Setting<?> setting, Object value, boolean ok) {
        if (!ok) {
            String text = value instanceof Duration d ? Durations.format(d) : String.valueOf(value);
            throw new ConfigException("setting " + setting.key() + " = '" + text + "' is invalid: allowed " + setting.type() + " "
                    + setting.allowed() + ". Fix: set " + setting.key() + " within that range, or remove it to use the default "
                    + setting.defaultText() + ".");
        }
    }
}
