package dev.freshet.trainer.online;

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
 * Settings of the online training loop ({@code freshet train}). The model's sizes are in
 * {@link dev.freshet.trainer.ModelConfig}, the features' in {@link dev.freshet.features.FeatureLayout}.
 *
 * @param checkpointEvents  checkpoint after this many trained examples even if the interval has not passed; 0: by time only
 * @param stopAfterExamples stop (after a final checkpoint) once this many examples are in the model; 0: run until stopped
 * @param batchLinger       longest a polled example waits for its batch to fill before a partial batch is trained; 0: never
 */
public record TrainerConfig(String bootstrapServers, Topics topics, String groupId, Path checkpointDir, int checkpointsKept,
                            Duration checkpointInterval, long checkpointEvents, Duration deltaInterval, Path publishDir,
                            int metricWindow, Backend backend, StepOrder stepOrder, StartPosition startPosition,
                            Duration statusInterval, Duration pollTimeout, long stopAfterExamples, Duration batchLinger) {

    /** Where the model math runs. */
    public enum Backend { AUTO, CPU, CUDA }

    /**
     * How steps are taken from several partitions. ROUND_ROBIN: one batch from each partition in turn, in
     * partition order, waiting for the next partition's batch to fill: the sequence of steps depends on the
     * data alone, so a run resumed from a checkpoint trains exactly the steps an uninterrupted run would
     * (bit-identical weights). ARRIVAL: whichever partition has a full batch first: never waits on a slow
     * partition, but after a crash the steps may interleave differently (still none skipped, none doubled).
     */
    public enum StepOrder { ROUND_ROBIN, ARRIVAL }

    /** Where a trainer without any checkpoint starts reading. */
    public enum StartPosition { EARLIEST, LATEST }

    public static final Setting<String> GROUP_ID = Setting.ofString("trainer.group-id", "freshet-trainer",
            "Kafka consumer group of the trainer; offsets are committed there after each checkpoint. One trainer per group.");
    public static final Setting<Path> CHECKPOINT_DIR = Setting.ofPath("trainer.checkpoint-dir", "freshet-work/checkpoints",
            "Directory of the trainer's checkpoints (model, optimizer state, consumed offsets); the newest complete one is resumed from.");
    public static final Setting<Integer> CHECKPOINTS_KEPT = Setting.ofInt("trainer.checkpoints-kept", 2, 1, 1000,
            "Complete checkpoints kept; older ones are deleted after each new one.");
    public static final Setting<Duration> CHECKPOINT_INTERVAL = Setting.ofDuration("trainer.checkpoint-interval", "5m",
            Duration.ofSeconds(1), Duration.ofDays(1), "Checkpoint at the first step boundary after this much time since the last one.");
    public static final Setting<Long> CHECKPOINT_EVENTS = Setting.ofLong("trainer.checkpoint-events", 0, 0, Long.MAX_VALUE,
            "Also checkpoint after this many trained examples since the last checkpoint; 0 checkpoints by time only.");
    public static final Setting<Duration> DELTA_INTERVAL = Setting.ofDuration("trainer.delta-interval", "10s",
            Duration.ofMillis(100), Duration.ofDays(1), "Hand the touched embedding rows and the dense weights to the publisher this often.");
    public static final Setting<Path> PUBLISH_DIR = Setting.ofPath("trainer.publish-dir", "freshet-work/trainer-updates",
            "Where the file-writing model sink puts deltas and full snapshots when no publisher is attached.");
    public static final Setting<Integer> METRIC_WINDOW = Setting.ofInt("trainer.metric-window", 100_000, 100, 1 << 24,
            "Examples in the progressive-validation window (AUC and log loss over the most recent ones).");
    public static final Setting<Backend> BACKEND = Setting.ofEnum("trainer.backend", Backend.class, Backend.AUTO,
            "auto (CUDA where a GPU is found, else CPU), cpu or cuda.");
    public static final Setting<StepOrder> STEP_ORDER = Setting.ofEnum("trainer.step-order", StepOrder.class, StepOrder.ROUND_ROBIN,
            "round_robin (steps depend on the data only: resumed runs are bit-identical) or arrival (never waits on an idle partition).");
    public static final Setting<StartPosition> START_POSITION = Setting.ofEnum("trainer.start-position", StartPosition.class,
            StartPosition.EARLIEST, "Where to start reading when there is no checkpoint: earliest or latest.");
    public static final Setting<Duration> STATUS_INTERVAL = Setting.ofDuration("trainer.status-interval", "5s",
            Duration.ofMillis(100), Duration.ofHours(1), "How often a status line (events/s, AUC, log loss, checkpoint age) is printed.");
    public static final Setting<Duration> POLL_TIMEOUT = Setting.ofDuration("trainer.poll-timeout", "200ms",
            Duration.ofMillis(1), Duration.ofMinutes(1), "Longest wait of one Kafka poll.");
    public static final Setting<Long> STOP_AFTER_EXAMPLES = Setting.ofLong("trainer.stop-after-examples", 0, 0, Long.MAX_VALUE,
            "Stop with a final checkpoint once this many examples are in the model (replays, tests); 0 runs until stopped.");

    /**
     * Off by default because it trades the round_robin guarantee away: a partial batch is cut where the
     * stream paused, which is timing, not data, so a resumed run may cut its steps elsewhere (still no
     * example skipped or trained twice). On, the tail of a stream that stops, and a quiet partition's
     * examples, are trained within about this long (plus one poll) instead of waiting for more data.
     */
    public static final Setting<Duration> BATCH_LINGER = Setting.ofDuration("trainer.batch-linger", "0s",
            Duration.ZERO, Duration.ofMinutes(10), "Train a partial batch once its oldest example has waited this long since it was polled "
                    + "(0: only full batches, cut at fixed points of the stream, so round_robin resumes are bit-identical).");

    public static final List<Setting<?>> SETTINGS = List.of(CommonSettings.BOOTSTRAP_SERVERS, Topics.PREFIX, GROUP_ID, CHECKPOINT_DIR,
            CHECKPOINTS_KEPT, CHECKPOINT_INTERVAL, CHECKPOINT_EVENTS, DELTA_INTERVAL, PUBLISH_DIR, METRIC_WINDOW, BACKEND, STEP_ORDER,
            START_POSITION, STATUS_INTERVAL, POLL_TIMEOUT, STOP_AFTER_EXAMPLES, BATCH_LINGER);

    public TrainerConfig {
        Objects.requireNonNull(bootstrapServers, "bootstrapServers");
        Objects.requireNonNull(topics, "topics");
        Objects.requireNonNull(groupId, "groupId");
        Objects.requireNonNull(checkpointDir, "checkpointDir");
        Objects.requireNonNull(checkpointInterval, "checkpointInterval");
        Objects.requireNonNull(deltaInterval, "deltaInterval");
        Objects.requireNonNull(publishDir, "publishDir");
        Objects.requireNonNull(backend, "backend");
        Objects.requireNonNull(stepOrder, "stepOrder");
        Objects.requireNonNull(startPosition, "startPosition");
        Objects.requireNonNull(statusInterval, "statusInterval");
        Objects.requireNonNull(pollTimeout, "pollTimeout");
        Objects.requireNonNull(batchLinger, "batchLinger");
        if (batchLinger.isNegative()) {
            throw new ConfigException(BATCH_LINGER.key() + " = " + batchLinger + " must be >= 0 (0: only full batches)");
        }
        if (checkpointsKept < 1) throw new ConfigException(CHECKPOINTS_KEPT.key() + " = " + checkpointsKept + " must be >= 1");
        if (checkpointEvents < 0) throw new ConfigException(CHECKPOINT_EVENTS.key() + " = " + checkpointEvents + " must be >= 0 (0: by time only)");
        if (metricWindow < 1) throw new ConfigException(METRIC_WINDOW.key() + " = " + metricWindow + " must be >= 1");
        if (stopAfterExamples < 0) throw new ConfigException(STOP_AFTER_EXAMPLES.key() + " = " + stopAfterExamples + " must be >= 0");
        if (checkpointDir.toAbsolutePath().normalize().equals(publishDir.toAbsolutePath().normalize())) {
            throw new ConfigException(CHECKPOINT_DIR.key() + " and " + PUBLISH_DIR.key() + " are both " + checkpointDir
                    + ": checkpoint pruning would delete published snapshots. Fix: give them different directories.");
        }
    }

    public static TrainerConfig from(ConfigSource c) {
        return new TrainerConfig(c.get(CommonSettings.BOOTSTRAP_SERVERS), Topics.from(c), c.get(GROUP_ID), c.get(CHECKPOINT_DIR),
                c.get(CHECKPOINTS_KEPT), c.get(CHECKPOINT_INTERVAL), c.get(CHECKPOINT_EVENTS), c.get(DELTA_INTERVAL), c.get(PUBLISH_DIR),
                c.get(METRIC_WINDOW), c.get(BACKEND), c.get(STEP_ORDER), c.get(START_POSITION), c.get(STATUS_INTERVAL), c.get(POLL_TIMEOUT),
                c.get(STOP_AFTER_EXAMPLES), c.get(BATCH_LINGER));
    }
}
