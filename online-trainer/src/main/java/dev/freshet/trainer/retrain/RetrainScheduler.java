package dev.freshet.trainer.retrain;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Starts {@link RetrainJob}s: every {@code retrain.interval}, when the online model's progressive AUC has
 * stayed below {@code retrain.drift-auc} for {@code retrain.drift-for} (no sooner than
 * {@code retrain.cooldown} after the previous retrain), and on request ({@link #requestNow()}, or the
 * request file that {@code freshet retrain} drops into the trainer's work directory). One retrain at
 * a time, on one background thread; requests that arrive meanwhile are served by the next run.
 *
 * <p>The decision of when to start ({@link #due}) is a function of the injected clock's instant, so
 * tests drive it without sleeping.
 */
public final class RetrainScheduler implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(RetrainScheduler.class);
    /** How often the background thread looks at the clock, the drift metric and the request file. */
    private static final Duration TICK = Duration.ofSeconds(1);

    private final RetrainConfig config;
    private final RetrainJob job;
    private final LiveModel live;
    private final Clock clock;
    private final Path requestFile;
    private final LinkedBlockingQueue<CompletableFuture<RetrainResult>> requests = new LinkedBlockingQueue<>();
    private Instant nextScheduled;
    private Instant belowSince;
    private Instant lastEnd;
    private volatile RetrainResult last;
    private volatile boolean closed;
    private Thread thread;

    /**
     * @param requestFile a file whose appearance requests a retrain (deleted when taken), or null for none
     */
    public RetrainScheduler(RetrainConfig config, RetrainJob job, LiveModel live, Clock clock, Path requestFile) {
        this.config = Objects.requireNonNull(config, "config");
        this.job = Objects.requireNonNull(job, "job");
        this.live = Objects.requireNonNull(live, "live");
        this.clock = Objects.requireNonNull(clock, "clock");
        this.requestFile = requestFile;
    }

    /** The file whose appearance in {@code retrain.dir} asks the running trainer for a retrain. */
    public static Path requestFile(Path retrainDir) {
        return retrainDir.resolve("request");
    }

    /**
     * The retrain service of a trainer process, started: runs retrains on the schedule, on drift and
     * when {@code freshet retrain} drops its request into {@code config.dir()}, where it also keeps the
     * decision log and the progress line. Close it before the online trainer.
     *
     * @param kafkaProps client settings of the cluster holding {@code topic}
     */
    public static RetrainScheduler start(RetrainConfig config, LiveModel live, RetrainJob.Backends backends,
                                         Map<String, Object> kafkaProps, String topic, Clock clock) {
        RetrainJob job = new RetrainJob(config, live, backends, kafkaProps, topic, clock, config.dir());
        RetrainScheduler scheduler = new RetrainScheduler(config, job, live, clock, requestFile(config.dir()));
        scheduler.start();
        return scheduler;
    }

    /** Starts the background thread. */
    public synchronized void start() {
        if (thread != null) throw new IllegalStateException("retrain scheduler already started");
        if (closed) throw new IllegalStateException("retrain scheduler is closed");
        thread = new Thread(this::loop, "freshet-retrain");
        thread.setDaemon(true);
        // A hint only: Linux ignores Java priorities without -XX:ThreadPriorityPolicy; retrain.threads is the real bound.
        thread.setPriority(Thread.MIN_PRIORITY);
        thread.start();
    }

    /** Queues a retrain; the future completes with its result. */
    public CompletableFuture<RetrainResult> requestNow() {
        if (closed) throw new IllegalStateException("retrain scheduler is closed");
        CompletableFuture<RetrainResult> f = new CompletableFuture<>();
        requests.add(f);
        return f;
    }

    /** The job it runs (e.g. to observe it with {@link RetrainJob#setListener}). */
    public RetrainJob job() {
        return job;
    }

    /** The latest retrain's result, if any has finished. */
    public Optional<RetrainResult> last() {
        return Optional.ofNullable(last);
    }

    /**
     * Whether a scheduled or drift-triggered retrain should start at {@code now}. Called once per tick; it
     * moves the schedule on and tracks how long the AUC has been low.
     */
    public synchronized Optional<RetrainTrigger> due(Instant now) {
        if (config.scheduled()) {
            if (nextScheduled == null) {
                nextScheduled = now.plus(config.interval());
            } else if (!now.isBefore(nextScheduled)) {
                nextScheduled = now.plus(config.interval());
                return Optional.of(RetrainTrigger.SCHEDULE);
            }
        }
        if (config.driftTriggered()) {
            double auc = live.progressiveAuc();
            if (!Double.isNaN(auc) && auc < config.driftAuc()) {
                if (belowSince == null) belowSince = now;
                boolean longEnough = Duration.between(belowSince, now).compareTo(config.driftFor()) >= 0;
                boolean cooled = lastEnd == null || Duration.between(lastEnd, now).compareTo(config.cooldown()) >= 0;
                if (longEnough && cooled) {
                    LOG.info("progressive AUC {} below retrain.drift-auc {} since {}: starting a retrain", auc, config.driftAuc(), belowSince);
                    belowSince = null;
                    return Optional.of(RetrainTrigger.DRIFT);
                }
            } else {
                belowSince = null;
            }
        }
        return Optional.empty();
    }

    /** Records that a retrain ended at {@code at}: the drift cooldown and the AUC tracking start again. */
    synchronized void ended(Instant at) {
        lastEnd = at;
        belowSince = null;
    }

    private void loop() {
        while (!closed) {
            try {
                CompletableFuture<RetrainResult> request = requests.poll(TICK.toMillis(), TimeUnit.MILLISECONDS);
                List<CompletableFuture<RetrainResult>> waiting = new ArrayList<>();
                if (request != null) waiting.add(request);
                RetrainTrigger trigger = null;
                if (takeRequestFile()) trigger = RetrainTrigger.COMMAND;
                if (!waiting.isEmpty()) trigger = RetrainTrigger.COMMAND;
                if (trigger == null) trigger = due(clock.instant()).orElse(null);
                if (trigger == null || closed) {
                    waiting.forEach(f -> f.cancel(false));
                    continue;
                }
                RetrainResult result = job.run(trigger);
                last = result;
                ended(clock.instant());
                requests.drainTo(waiting);
                waiting.forEach(f -> f.complete(result));
            } catch (InterruptedException e) {
                if (!closed) LOG.warn("retrain scheduler interrupted; stopping");
                break;
            } catch (RuntimeException e) {
                // The job reports its own failures; this is the scheduler's, and must not end retraining for good.
                LOG.error("retrain scheduler error; continuing", e);
            }
        }
        requests.forEach(f -> f.cancel(false));
    }

    private boolean takeRequestFile() {
        if (requestFile == null) return false;
        try {
            return Files.deleteIfExists(requestFile);
        } catch (IOException e) {
            LOG.warn("cannot take the retrain request file {}: {}", requestFile, e.toString());
            return false;
        }
    }

    /** Cancels a running retrain (the online model stays) and stops the thread. Idempotent. */
    @Override
    public void close() {
        Thread t;
        synchronized (this) {
            if (closed) return;
            closed = true;
            t = thread;
        }
        job.cancel();
        if (t != null) {
            t.interrupt();
            try {
                t.join(TimeUnit.SECONDS.toMillis(30));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        requests.forEach(f -> f.cancel(false));
    }
}
