package dev.freshet.platform.internal;

import dev.freshet.platform.FreshnessTracker;

import java.io.PrintStream;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.DoubleSupplier;
import java.util.function.LongSupplier;

/**
 * Samples the pipeline every interval: turns the components' counters into rates, adds the sample to
 * the status page's history and prints it as one console line. The freshness shown is that of the
 * examples served during the interval (a live view); the totals are in {@link FreshnessTracker#summary()}.
 */
public final class ProgressMonitor implements AutoCloseable {

    /** Where the numbers come from: each a cheap, non-blocking read of a component's counter. */
    public record Readings(LongSupplier produced, LongSupplier featurised, LongSupplier trained, LongSupplier deadLettered,
                           DoubleSupplier auc, DoubleSupplier logLoss, LongSupplier modelVersion) {
        public Readings {
            Objects.requireNonNull(produced, "produced");
            Objects.requireNonNull(featurised, "featurised");
            Objects.requireNonNull(trained, "trained");
            Objects.requireNonNull(deadLettered, "deadLettered");
            Objects.requireNonNull(auc, "auc");
            Objects.requireNonNull(logLoss, "logLoss");
            Objects.requireNonNull(modelVersion, "modelVersion");
        }
    }

    private final Readings readings;
    private final FreshnessTracker freshness;
    private final StatusHistory history;
    private final PrintStream console;
    private final long startNanos;
    private final ScheduledExecutorService timer;
    private long lastNanos;
    private long lastProduced, lastFeaturised, lastTrained;
    private double lastP50 = Double.NaN, lastP99 = Double.NaN;

    /** @param console where lines go, or null for none (tests, benchmarks) */
    public ProgressMonitor(Readings readings, FreshnessTracker freshness, StatusHistory history, PrintStream console,
                           Duration interval, long startNanos) {
        this.readings = Objects.requireNonNull(readings, "readings");
        this.freshness = Objects.requireNonNull(freshness, "freshness");
        this.history = Objects.requireNonNull(history, "history");
        this.console = console;
        this.startNanos = startNanos;
        this.lastNanos = startNanos;
        // Rates count from here: a trainer resumed from a checkpoint starts with the examples of earlier runs.
        this.lastProduced = readings.produced().getAsLong();
        this.lastFeaturised = readings.featurised().getAsLong();
        this.lastTrained = readings.trained().getAsLong();
        timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "freshet-progress");
            t.setDaemon(true);
            return t;
        });
        long ms = interval.toMillis();
        timer.scheduleAtFixedRate(this::sampleQuietly, ms, ms, TimeUnit.MILLISECONDS);
    }

    private void sampleQuietly() {
        try {
            StatusSample s = sample();
            if (console != null) {
                console.println(s.consoleLine());
            }
        } catch (RuntimeException e) {
            if (console != null) {
                console.println("(progress sample failed: " + e + ")");
            }
        }
    }

    /** Takes one sample now and adds it to the history. */
    public synchronized StatusSample sample() {
        long now = System.nanoTime();
        double dt = Math.max(1e-3, (now - lastNanos) / 1e9);
        long produced = readings.produced().getAsLong();
        long featurised = readings.featurised().getAsLong();
        long trained = readings.trained().getAsLong();
        FreshnessTracker.Summary recent = freshness.drainRecent();
        if (recent.count() > 0) {
            // Keep showing the last measured values between versions rather than blinking to "-".
            lastP50 = recent.p50Seconds();
            lastP99 = recent.p99Seconds();
        }
        StatusSample s = new StatusSample(System.currentTimeMillis(), (now - startNanos) / 1e9,
                produced, featurised, trained, readings.deadLettered().getAsLong(),
                (produced - lastProduced) / dt, (featurised - lastFeaturised) / dt, (trained - lastTrained) / dt,
                readings.auc().getAsDouble(), readings.logLoss().getAsDouble(), readings.modelVersion().getAsLong(),
                lastP50, lastP99);
        lastNanos = now;
        lastProduced = produced;
        lastFeaturised = featurised;
        lastTrained = trained;
        history.add(s);
        return s;
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
