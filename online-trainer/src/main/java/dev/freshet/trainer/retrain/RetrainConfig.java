package dev.freshet.trainer.retrain;

import dev.freshet.config.ConfigException;
import dev.freshet.config.ConfigSource;
import dev.freshet.config.Durations;
import dev.freshet.config.Setting;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * Settings of the periodic full retrain ({@link RetrainJob}, {@link RetrainScheduler}).
 *
 * @param interval           time between scheduled retrains; zero turns the schedule off
 * @param window             how far back the replay of {@code features} starts (by record timestamp)
 * @param passes             passes over the window (epochs)
 * @param seed               seed of the replay's shuffle (the candidate is initialised from {@code model.seed})
 * @param shuffleBuffer      examples held in the replay's shuffle buffer; 1 replays in log order
 * @param holdoutExamples    examples in the held-out slice both models are scored on
 * @param minHoldoutExamples a slice smaller than this when {@code holdoutTimeout} runs out decides nothing
 * @param holdoutTimeout     how long to wait for the held-out slice to arrive
 * @param minAucGain         the candidate's held-out AUC must beat the online model's by at least this (-1: always)
 * @param maxLogLossIncrease and its held-out log loss may be worse by at most this
 * @param driftAuc           progressive AUC below this for {@code driftFor} triggers a retrain; 0 turns it off
 * @param driftFor           how long the AUC must stay below {@code driftAuc}
 * @param cooldown           minimum time between the end of one retrain and a drift-triggered start of the next
 * @param threads            CPU threads the candidate's backend may use, leaving the rest to the online trainer
 * @param maxRate            the candidate trains at most this many examples per second; 0 is unlimited
 * @param progress           whether to draw a progress bar on stderr
 * @param dir                the decision log, the progress line and {@code freshet retrain}'s request file
 */
public record RetrainConfig(Duration interval, Duration window, int passes, long seed, int shuffleBuffer,
                            int holdoutExamples, int minHoldoutExamples, Duration holdoutTimeout, double minAucGain,
                            double maxLogLossIncrease, double driftAuc, Duration driftFor, Duration cooldown,
                            int threads, double maxRate, boolean progress, Path dir) {

    public static final Setting<Duration> INTERVAL = Setting.ofDuration("retrain.interval", "0s", Duration.ZERO,
            Duration.ofDays(365), "Time between scheduled full retrains, e.g. 6h; 0s turns the schedule off.");
    public static final Setting<Duration> WINDOW = Setting.ofDuration("retrain.window", "1d", Duration.ofSeconds(1),
            Duration.ofDays(3650), "How far back the retrain replays 'features' (start found by record timestamp); at most topics.retention.");
    public static final Setting<Integer> PASSES = Setting.ofInt("retrain.passes", 1, 1, 1000,
            "Passes of the fresh model over the replayed window; CTR models tend to overfit from the second on.");
    public static final Setting<Long> SEED = Setting.ofLong("retrain.seed", 42, Long.MIN_VALUE, Long.MAX_VALUE,
            "Seed of the replay's shuffle (the candidate starts from model.seed): same window and seeds, same candidate.");
    public static final Setting<Integer> SHUFFLE_BUFFER = Setting.ofInt("retrain.shuffle-buffer", 65_536, 1, 1 << 26,
            "Examples in the replay's shuffle buffer (1 replays in log order).");
    public static final Setting<Integer> HOLDOUT_EXAMPLES = Setting.ofInt("retrain.holdout-examples", 50_000, 1, 1 << 26,
            "Examples in the held-out slice (the newest, never trained on by the candidate) that both models are scored on.");
    public static final Setting<Integer> MIN_HOLDOUT_EXAMPLES = Setting.ofInt("retrain.min-holdout-examples", 1_000, 1, 1 << 26,
            "A held-out slice smaller than this when retrain.holdout-timeout runs out promotes nothing.");
    public static final Setting<Duration> HOLDOUT_TIMEOUT = Setting.ofDuration("retrain.holdout-timeout", "10m",
            Duration.ZERO, Duration.ofDays(1), "How long the retrain waits for the held-out slice to arrive.");
    public static final Setting<Double> MIN_AUC_GAIN = Setting.ofDouble("retrain.min-auc-gain", 0.002, -1.0, 1.0,
            "Promote only if the candidate's held-out AUC beats the online model's by at least this; -1 promotes every candidate.");
    public static final Setting<Double> MAX_LOGLOSS_INCREASE = Setting.ofDouble("retrain.max-logloss-increase", 0.0, 0.0, 100.0,
            "...and its held-out log loss is worse than the online model's by at most this.");
    public static final Setting<Double> DRIFT_AUC = Setting.ofDouble("retrain.drift-auc", 0.0, 0.0, 1.0,
            "Progressive AUC below this for retrain.drift-for starts a retrain; 0 turns drift triggering off.");
    public static final Setting<Duration> DRIFT_FOR = Setting.ofDuration("retrain.drift-for", "10m", Duration.ZERO,
            Duration.ofDays(30), "How long the progressive AUC must stay below retrain.drift-auc.");
    public static final Setting<Duration> COOLDOWN = Setting.ofDuration("retrain.cooldown", "30m", Duration.ZERO,
            Duration.ofDays(30), "Minimum time from the end of a retrain to a drift-triggered start of the next.");
    public static final Setting<Integer> THREADS = Setting.ofInt("retrain.threads", 1, 1, 1024,
            "CPU threads of the candidate's backend; the online trainer keeps the others.");
    public static final Setting<Double> MAX_RATE = Setting.ofDouble("retrain.max-rate", 0.0, 0.0, 1e9,
            "Cap on the candidate's training examples per second, to leave the machine to the online trainer; 0 is no cap.");
    public static final Setting<Boolean> PROGRESS = Setting.ofBoolean("retrain.progress", true,
            "Draw a progress bar (examples, pass, rate, ETA) on stderr while retraining.");

    public static final Setting<Path> DIR = Setting.ofPath("retrain.dir", "freshet-work/retrain",
            "Directory of the retrain's decision log and progress line, where 'freshet retrain' asks the running trainer for a retrain.");

    public static final List<Setting<?>> SETTINGS = List.of(INTERVAL, WINDOW, PASSES, SEED, SHUFFLE_BUFFER,
            HOLDOUT_EXAMPLES, MIN_HOLDOUT_EXAMPLES, HOLDOUT_TIMEOUT, MIN_AUC_GAIN, MAX_LOGLOSS_INCREASE, DRIFT_AUC,
            DRIFT_FOR, COOLDOWN, THREADS, MAX_RATE, PROGRESS, DIR);

    public RetrainConfig {
        Objects.requireNonNull(interval, "interval");
        Objects.requireNonNull(window, "window");
        Objects.requireNonNull(holdoutTimeout, "holdoutTimeout");
        Objects.requireNonNull(driftFor, "driftFor");
        Objects.requireNonNull(cooldown, "cooldown");
        Objects.requireNonNull(dir, "dir");
        check(INTERVAL, interval, !interval.isNegative());
        check(WINDOW, window, !window.isNegative() && !window.isZero());
        check(PASSES, passes, passes >= 1);
        check(SHUFFLE_BUFFER, shuffleBuffer, shuffleBuffer >= 1);
        check(HOLDOUT_EXAMPLES, holdoutExamples, holdoutExamples >= 1);
        check(MIN_HOLDOUT_EXAMPLES, minHoldoutExamples, minHoldoutExamples >= 1);
        check(HOLDOUT_TIMEOUT, holdoutTimeout, !holdoutTimeout.isNegative());
        check(MIN_AUC_GAIN, minAucGain, minAucGain >= -1 && minAucGain <= 1);
        check(MAX_LOGLOSS_INCREASE, maxLogLossIncrease, maxLogLossIncrease >= 0 && Double.isFinite(maxLogLossIncrease));
        check(DRIFT_AUC, driftAuc, driftAuc >= 0 && driftAuc <= 1);
        check(DRIFT_FOR, driftFor, !driftFor.isNegative());
        check(COOLDOWN, cooldown, !cooldown.isNegative());
        check(THREADS, threads, threads >= 1);
        check(MAX_RATE, maxRate, maxRate >= 0 && Double.isFinite(maxRate));
        if (minHoldoutExamples > holdoutExamples) {
            throw new ConfigException("retrain.min-holdout-examples = " + minHoldoutExamples + " exceeds retrain.holdout-examples = "
                    + holdoutExamples + ": the slice could never be large enough. Fix: lower retrain.min-holdout-examples or raise retrain.holdout-examples.");
        }
        if (!interval.isZero() && interval.compareTo(holdoutTimeout) < 0) {
            throw new ConfigException("retrain.interval = " + Durations.format(interval) + " is shorter than retrain.holdout-timeout = "
                    + Durations.format(holdoutTimeout) + ": a scheduled retrain could start while the previous one still waits for its held-out slice. "
                    + "Fix: raise retrain.interval or lower retrain.holdout-timeout.");
        }
    }

    public static RetrainConfig from(ConfigSource config) {
        return new RetrainConfig(config.get(INTERVAL), config.get(WINDOW), config.get(PASSES), config.get(SEED),
                config.get(SHUFFLE_BUFFER), config.get(HOLDOUT_EXAMPLES), config.get(MIN_HOLDOUT_EXAMPLES),
                config.get(HOLDOUT_TIMEOUT), config.get(MIN_AUC_GAIN), config.get(MAX_LOGLOSS_INCREASE),
                config.get(DRIFT_AUC), config.get(DRIFT_FOR), config.get(COOLDOWN), config.get(THREADS), config.get(MAX_RATE), config.get(PROGRESS),
                config.get(DIR));
    }

    /** The defaults, for tests and code that builds a job without a config file. */
    public static RetrainConfig defaults() {
        return from(ConfigSource.empty());
    }

    public boolean scheduled() {
        return !interval.isZero();
    }

    public boolean driftTriggered() {
        return driftAuc > 0;
    }

    private static void check(Setting<?> setting, Object value, boolean ok) {
        if (!ok) {
            throw new ConfigException("setting " + setting.key() + " = " + (value instanceof Duration d ? Durations.format(d) : value)
                    + " is out of range: allowed " + setting.type() + " " + setting.allowed() + ". Fix: set it within the range, or remove it to use the default "
                    + setting.defaultText() + ".");
        }
    }
}
