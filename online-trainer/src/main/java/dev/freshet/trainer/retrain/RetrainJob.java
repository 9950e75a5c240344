package dev.freshet.trainer.retrain;

import dev.freshet.features.Examples;
import dev.freshet.schemas.FeatureBatch;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelDivergedException;
import dev.freshet.trainer.TrainerBackend;
import dev.freshet.trainer.TrainingProgress;
import dev.freshet.trainer.metrics.BinaryMetrics;
import dev.freshet.trainer.retrain.RetrainResult.Decision;
import dev.freshet.trainer.retrain.internal.FeatureReplay;
import dev.freshet.trainer.retrain.internal.ProgressBar;
import dev.freshet.trainer.retrain.internal.ShuffledBatches;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InterruptException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;

/**
 * One full retrain: replays a window of {@code features}, trains a fresh model on it, scores it and
 * the online model on the same held-out slice, and promotes it if it is better by the margin.
 *
 * <h2>The steps</h2>
 * <ol>
 * <li><b>Cut.</b> Between two online steps, the online model is copied into a backend of the retrain's
 *     own and its position P0 taken: the window's end.</li>
 * <li><b>Window.</b> Its start S is, per partition, the first record stamped at or after
 *     {@code now - retrain.window} ({@code KafkaConsumer.offsetsForTimes}).</li>
 * <li><b>Train.</b> A fresh model (initialised from {@code model.seed}, as the online model once was) trains
 *     {@code retrain.passes} passes over [S, P0), read back from Kafka each pass in a deterministic merge of
 *     the partitions and shuffled through a buffer seeded by {@code retrain.seed}: the same window and seeds
 *     give the same candidate.</li>
 * <li><b>Evaluate.</b> The held-out slice is the newest data: the first {@code retrain.holdout-examples}
 *     examples from P0 on. Neither the candidate nor the copy of the online model has trained on it, so
 *     both are scored out of sample, on the same examples (AUC and log loss).</li>
 * <li><b>Decide.</b> Promote iff candidate AUC >= online AUC + {@code retrain.min-auc-gain} and candidate
 *     log loss <= online log loss + {@code retrain.max-logloss-increase}.</li>
 * <li><b>Hand over.</b> The candidate catches up from P0 (held-out slice included) towards the online
 *     trainer's moving position in a few rounds, in log order, off the training thread; then, between two
 *     online steps, the online trainer loads it, publishes it as FULL and continues from where the
 *     candidate stopped. Every event after S is thus in the promoted model exactly once (per pass).</li>
 * </ol>
 *
 * <h2>Where it runs, and what it costs</h2>
 * In the online trainer's process, on its own thread, with its own backend of {@code retrain.threads}
 * CPU threads (or its own GPU context): the hand-over is then a copy in memory, not a round trip through
 * the model store, and a failed or cancelled retrain only discards its own backend. The online loop
 * stops only twice, between steps, for two copies of the model (the cut and the hand-over). The cost is
 * shared cores (or GPU time) and memory: two more models (the candidate and the copy) for the length of
 * the retrain. See {@code online-trainer/RETRAIN.md} for measured figures.
 *
 * <p>Thread-safe to {@link #cancel()} from another thread; {@link #run} itself is not reentrant.
 */
public final class RetrainJob {
    private static final Logger LOG = LoggerFactory.getLogger(RetrainJob.class);
    /** Catch-up rounds before the hand-over; each shrinks the gap to the online position. */
    private static final int MAX_CATCH_UP_ROUNDS = 5;
    /** A catch-up round shorter than this leaves the rest to the online trainer. */
    private static final long SHORT_ROUND_NANOS = 1_000_000_000L;

    /** Opens the backend a retrain trains its candidate with, or holds its copy of the online model in. */
    @FunctionalInterface
    public interface Backends {
        TrainerBackend open(ModelConfig config, int threads);
    }

    /** Observes a running retrain (progress displays, tests, benchmarks). Called on the retrain's thread. */
    @FunctionalInterface
    public interface Listener {
        /** After every candidate step; {@code pass} is 0 during the catch-up. The batch is reused afterwards. */
        void trained(int pass, long examplesThisPass, Examples batch);
    }

    private final RetrainConfig config;
    private final LiveModel live;
    private final Backends backends;
    private final Map<String, Object> kafkaProps;
    private final String topic;
    private final Clock clock;
    private final Path dir;
    private volatile Listener listener = (pass, examples, batch) -> {
    };
    private volatile boolean cancelled;

    /**
     * @param kafkaProps  client settings of the cluster ({@code bootstrap.servers}, security)
     * @param topic       the {@code features} topic
     * @param dir         {@code retrain.dir}: one properties file per retrain under {@code decisions/}, and the
     *                    current progress line in {@code progress}; null for the log only
     */
    public RetrainJob(RetrainConfig config, LiveModel live, Backends backends, Map<String, Object> kafkaProps,
                      String topic, Clock clock, Path dir) {
        this.config = Objects.requireNonNull(config, "config");
        this.live = Objects.requireNonNull(live, "live");
        this.backends = Objects.requireNonNull(backends, "backends");
        this.kafkaProps = Map.copyOf(Objects.requireNonNull(kafkaProps, "kafkaProps"));
        this.topic = Objects.requireNonNull(topic, "topic");
        this.clock = Objects.requireNonNull(clock, "clock");
        this.dir = dir;
    }

    public RetrainConfig config() {
        return config;
    }

    public void setListener(Listener listener) {
        this.listener = Objects.requireNonNull(listener, "listener");
    }

    /** Asks a running {@link #run} to stop at its next step; the online model is left as it is. */
    public void cancel() {
        cancelled = true;
    }

    /**
     * Runs one retrain to its decision (and hand-over). Never throws for a failed or cancelled retrain:
     * the result says so, and the online trainer is left as it was.
     */
    public RetrainResult run(RetrainTrigger trigger) {
        Objects.requireNonNull(trigger, "trigger");
        cancelled = false;
        Attempt a = new Attempt(trigger, clock.instant());
        RetrainResult result;
        try {
            result = a.run();
        } catch (CancellationException | InterruptException e) {
            result = a.result(Decision.CANCELLED, "cancelled: " + e.getMessage());
        } catch (ModelDivergedException e) {
            result = a.result(Decision.FAILED, "the candidate diverged (" + e.getMessage() + "); nothing published");
        } catch (RuntimeException e) {
            LOG.error("retrain failed; the online model stays", e);
            result = a.result(Decision.FAILED, e.toString());
        } finally {
            a.close();
        }
        record(result);
        return result;
    }

    private void record(RetrainResult result) {
        if (result.decision() == Decision.FAILED || result.decision() == Decision.CANCELLED) {
            LOG.warn("{}", result);
        } else {
            LOG.info("{}", result);
        }
        if (dir == null) {
            return;
        }
        Path decisionLog = decisionsDir(dir);
        Properties p = new Properties();
        p.putAll(result.describe());
        Path file = decisionLog.resolve("retrain-" + result.startedAt().toEpochMilli() + ".properties");
        try {
            Files.createDirectories(decisionLog);
            Path tmp = Files.createTempFile(decisionLog, "retrain-", ".tmp");
            try (Writer w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
                p.store(w, result.toString());
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            // The decision is already logged; a full disk must not turn a good retrain into a failure.
            LOG.warn("cannot write the retrain decision log {}: {}", file, e.toString());
        }
    }

    /** Where the decision log of {@code retrain.dir} lies: one {@code retrain-<start ms>.properties} per retrain. */
    public static Path decisionsDir(Path retrainDir) {
        return retrainDir.resolve("decisions");
    }

    /** The file holding the running retrain's progress line (what {@code freshet retrain} shows). */
    public static Path progressFile(Path retrainDir) {
        return retrainDir.resolve("progress");
    }

    /** Replaces the progress file's line atomically; a failure only costs the display. */
    private void mirrorProgress(String line) {
        try {
            Files.createDirectories(dir);
            Path tmp = dir.resolve(".progress.tmp");
            Files.writeString(tmp, line + "\n", StandardCharsets.UTF_8);
            Files.move(tmp, progressFile(dir), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            LOG.debug("cannot write the retrain progress line: {}", e.toString());
        }
    }

    /** Scores {@code holdout} with {@code backend} in batches of {@code batchSize}. */
    static Evaluation evaluate(TrainerBackend backend, Examples holdout, int batchSize) {
        int n = holdout.count;
        float[] probabilities = new float[n];
        Examples chunk = new Examples(batchSize, holdout.numDense, holdout.numSparse);
        float[] out = new float[batchSize];
        for (int from = 0; from < n; from += batchSize) {
            int m = Math.min(batchSize, n - from);
            chunk.clear();
            System.arraycopy(holdout.labels, from, chunk.labels, 0, m);
            System.arraycopy(holdout.dense, from * holdout.numDense, chunk.dense, 0, m * holdout.numDense);
            System.arraycopy(holdout.sparse, from * holdout.numSparse, chunk.sparse, 0, m * holdout.numSparse);
            System.arraycopy(holdout.eventTimes, from, chunk.eventTimes, 0, m);
            chunk.layoutId = holdout.layoutId;
            chunk.count = m;
            backend.predict(chunk, out);
            System.arraycopy(out, 0, probabilities, from, m);
        }
        return new Evaluation(BinaryMetrics.auc(probabilities, holdout.labels, n), BinaryMetrics.logLoss(probabilities, holdout.labels, n), n);
    }

    /** The promotion rule; the reason states the numbers either way. */
    static String verdict(RetrainConfig config, Evaluation candidate, Evaluation online, boolean[] promote) {
        double gain = candidate.auc() - online.auc();
        double lossIncrease = candidate.logLoss() - online.logLoss();
        boolean aucOk = !Double.isNaN(candidate.auc()) && (Double.isNaN(online.auc()) || gain >= config.minAucGain());
        boolean lossOk = lossIncrease <= config.maxLogLossIncrease() || Double.isNaN(online.logLoss());
        promote[0] = aucOk && lossOk;
        String numbers = String.format(java.util.Locale.ROOT,
                "candidate auc %.4f logloss %.4f vs online auc %.4f logloss %.4f on %,d held-out examples "
                        + "(auc gain %+.4f, needed %+.4f; logloss change %+.4f, allowed %+.4f)",
                candidate.auc(), candidate.logLoss(), online.auc(), online.logLoss(), candidate.examples(), gain,
                config.minAucGain(), lossIncrease, config.maxLogLossIncrease());
        if (promote[0]) return numbers;
        return (aucOk ? "log loss worse than allowed: " : "auc gain below the margin: ") + numbers;
    }

    /** The state of one run, so that a failure at any step still reports what was done. */
    private final class Attempt implements AutoCloseable {
        final RetrainTrigger trigger;
        final Instant startedAt;
        final long startNanos = System.nanoTime();
        final BooleanSupplier stop = () -> cancelled || Thread.currentThread().isInterrupted();
        Map<TopicPartition, Long> windowStart = Map.of();
        Map<TopicPartition, Long> windowEnd = Map.of();
        Map<TopicPartition, Long> holdoutEnd = Map.of();
        Map<TopicPartition, Long> handedOverAt = Map.of();
        long windowExamples;
        int passes;
        long trained;
        long maxEventTime = Long.MIN_VALUE;
        long trainNanos;
        Evaluation candidateEval;
        Evaluation onlineEval;
        TrainerBackend copy;
        TrainerBackend candidate;
        FeatureReplay replay;

        Attempt(RetrainTrigger trigger, Instant startedAt) {
            this.trigger = trigger;
            this.startedAt = startedAt;
        }

        RetrainResult run() {
            ModelConfig onlineConfig = live.config();
            int batchSize = onlineConfig.batchSize();
            replay = new FeatureReplay(kafkaProps, topic);

            // 1. Cut: the online model and its position, at one instant.
            copy = backends.open(onlineConfig, config.threads());
            windowEnd = sorted(live.copyTo(copy));
            // 2. Window start by timestamp.
            long since = startedAt.minus(config.window()).toEpochMilli();
            windowStart = replay.offsetsAtOrAfter(since, windowEnd);
            long records = records(windowStart, windowEnd);
            LOG.info("retrain ({}) starts: window {} .. {} ({} records, since {}), {} passes, seed {}", trigger, windowStart,
                    windowEnd, records, Instant.ofEpochMilli(since), config.passes(), config.seed());
            if (records == 0) {
                return result(Decision.ABANDONED, "the window since " + Instant.ofEpochMilli(since) + " holds no records of "
                        + topic + " before the online position; nothing to train on");
            }

            // 3. Train the candidate.
            // The online model's config exactly, seed included: the candidate must load into the online backend
            // and into its checkpoints, which refuse another config. retrain.seed orders the data instead.
            candidate = backends.open(onlineConfig, config.threads());
            SplittableRandom random = new SplittableRandom(config.seed());
            ProgressBar bar = config.progress() || dir != null
                    ? ProgressBar.stderr(config.progress(), 0, config.passes(), dir == null ? null : RetrainJob.this::mirrorProgress) : null;
            long trainStart = System.nanoTime();
            for (int pass = 1; pass <= config.passes(); pass++) {
                long done = trainPass(pass, windowStart, windowEnd, config.shuffleBuffer(), random, bar, records);
                if (pass == 1) windowExamples = done;
                passes = pass;
            }
            trainNanos = System.nanoTime() - trainStart;
            if (bar != null) bar.finish((long) passes * windowExamples, passes, "trained");
            if (windowExamples == 0) {
                return result(Decision.ABANDONED, "the window's " + records + " records held no usable examples ("
                        + replay.rejected() + " undecodable)");
            }

            // 4. The held-out slice: the newest examples, from the cut on.
            FeatureReplay.Slice slice = replay.take(windowEnd, config.holdoutExamples(), config.holdoutTimeout(), stop);
            holdoutEnd = sorted(slice.end());
            Examples holdout = new Examples(0, onlineConfig.numDense(), onlineConfig.numTables());
            for (FeatureBatch b : slice.batches()) {
                try {
                    holdout.append(b);
                } catch (IllegalArgumentException e) {
                    LOG.warn("retrain leaves a malformed record out of the held-out slice: {}", e.getMessage());
                }
            }
            if (holdout.count < config.minHoldoutExamples()) {
                return result(Decision.ABANDONED, "only " + holdout.count + " held-out examples arrived within "
                        + config.holdoutTimeout() + " (retrain.min-holdout-examples = " + config.minHoldoutExamples()
                        + "); the online model stays");
            }
            candidateEval = evaluate(candidate, holdout, batchSize);
            onlineEval = evaluate(copy, holdout, batchSize);
            copy.close();
            copy = null;

            // 5. Decide.
            boolean[] promote = new boolean[1];
            String verdict = verdict(config, candidateEval, onlineEval, promote);
            if (!promote[0]) {
                return result(Decision.KEPT_ONLINE, verdict);
            }

            // 6. Catch up and hand over.
            Map<TopicPartition, Long> at = windowEnd;
            for (int round = 0; round < MAX_CATCH_UP_ROUNDS; round++) {
                Map<TopicPartition, Long> target = sorted(live.position());
                if (records(at, target) == 0) break;
                long t0 = System.nanoTime();
                trainPass(0, at, target, 1, random, null, 0);
                at = target;
                if (System.nanoTime() - t0 < SHORT_ROUND_NANOS) break;
            }
            handedOverAt = at;
            RetrainResult done = result(Decision.PROMOTED, verdict);
            live.promote(candidate.state(), progress(done));
            return result(Decision.PROMOTED, verdict);
        }

        /** Trains one pass over [from, to); returns the examples trained. */
        long trainPass(int pass, Map<TopicPartition, Long> from, Map<TopicPartition, Long> to, int shuffleBuffer,
                       SplittableRandom random, ProgressBar bar, long records) {
            ModelConfig c = candidate.config();
            Examples scratch = new Examples(c.batchSize(), c.numDense(), c.numTables());
            float[] probabilities = new float[c.batchSize()];
            long before = trained;
            // Records read and examples in them, so far this pass: the first pass's total is estimated from them.
            long[] recordsSeen = {0};
            long[] examplesSeen = {0};
            ShuffledBatches batches = new ShuffledBatches(c.numDense(), c.numTables(), c.batchSize(), shuffleBuffer, random, batch -> {
                if (stop.getAsBoolean()) {
                    throw new CancellationException("retrain cancelled in pass " + pass);
                }
                if (probabilities.length < batch.count) throw new IllegalStateException("batch larger than the model's batch size");
                candidate.train(batch, probabilities);
                trained += batch.count;
                pace();
                for (int i = 0; i < batch.count; i++) maxEventTime = Math.max(maxEventTime, batch.eventTimes[i]);
                long thisPass = trained - before;
                listener.trained(pass, thisPass, batch);
                if (bar != null) {
                    if (pass == 1) {
                        // Until the first pass ends the total is an estimate from the records read so far.
                        long estimate = recordsSeen[0] == 0 ? 0 : (long) ((double) examplesSeen[0] / recordsSeen[0] * records);
                        bar.setTotal(estimate * config.passes());
                        bar.update(thisPass, pass);
                    } else {
                        bar.setTotal(windowExamples * config.passes());
                        bar.update((pass - 1) * windowExamples + thisPass, pass);
                    }
                }
            });
            replay.replay(from, to, (tp, offset, record) -> {
                recordsSeen[0]++;
                scratch.clear();
                try {
                    scratch.append(record);
                } catch (IllegalArgumentException e) {
                    LOG.warn("retrain skips malformed record {}@{}: {}", tp, offset, e.getMessage());
                    return;
                }
                examplesSeen[0] += scratch.count;
                batches.add(scratch);
            }, stop);
            batches.finish();
            return trained - before;
        }

        /** Holds the candidate to {@code retrain.max-rate} examples per second over the whole run. */
        void pace() {
            if (config.maxRate() <= 0) return;
            long due = startNanos + (long) (trained / config.maxRate() * 1e9);
            long wait = due - System.nanoTime();
            if (wait <= 0) return;
            try {
                Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CancellationException("retrain interrupted");
            }
        }

        TrainingProgress progress(RetrainResult r) {
            Map<String, Double> metrics = new LinkedHashMap<>();
            metrics.put("auc", candidateEval.auc());
            metrics.put("logloss", candidateEval.logLoss());
            r.describe().forEach((k, v) -> {
                try {
                    metrics.put(k, Double.parseDouble(v));
                } catch (NumberFormatException e) {
                    // textual entries (trigger, reason, offsets by name) stay in the decision log
                }
            });
            metrics.keySet().removeIf(k -> k.startsWith("retrain.window.start.") || k.startsWith("retrain.window.end.")
                    || k.startsWith("retrain.holdout.end.") || k.startsWith("retrain.handover."));
            return new TrainingProgress(names(handedOverAt), trained, metrics, maxEventTime == Long.MIN_VALUE ? 0 : maxEventTime);
        }

        RetrainResult result(Decision decision, String reason) {
            return new RetrainResult(trigger, decision, reason, startedAt, names(windowStart), names(windowEnd), names(holdoutEnd),
                    names(handedOverAt), windowExamples, passes, trained, candidateEval, onlineEval, Duration.ofNanos(trainNanos),
                    Duration.ofNanos(System.nanoTime() - startNanos));
        }

        /** Frees the backends and the consumer; never throws, so that the result of the run is what the caller sees. */
        @Override
        public void close() {
            closeQuietly(copy, "the copy of the online model");
            closeQuietly(candidate, "the candidate");
            closeQuietly(replay, "the replay consumer");
        }

        private void closeQuietly(AutoCloseable c, String what) {
            if (c == null) return;
            // A killed retrain closes with the interrupt set, which would cut the consumer's orderly close short;
            // close first, then hand the interrupt back to the caller.
            boolean interrupted = Thread.interrupted();
            try {
                c.close();
            } catch (Exception e) {
                LOG.warn("closing {} after the retrain failed: {}", what, e.toString());
            } finally {
                if (interrupted) Thread.currentThread().interrupt();
            }
        }
    }

    static long records(Map<TopicPartition, Long> from, Map<TopicPartition, Long> to) {
        long n = 0;
        for (Map.Entry<TopicPartition, Long> e : to.entrySet()) {
            n += Math.max(0, e.getValue() - from.getOrDefault(e.getKey(), e.getValue()));
        }
        return n;
    }

    private static Map<TopicPartition, Long> sorted(Map<TopicPartition, Long> offsets) {
        Map<TopicPartition, Long> m = new TreeMap<>((a, b) -> a.topic().equals(b.topic())
                ? Integer.compare(a.partition(), b.partition()) : a.topic().compareTo(b.topic()));
        m.putAll(offsets);
        return m;
    }

    /** "topic-partition" keys, as in {@link TrainingProgress#inputOffsets()}. */
    static Map<String, Long> names(Map<TopicPartition, Long> offsets) {
        Map<String, Long> m = new HashMap<>();
        offsets.forEach((tp, o) -> m.put(tp.toString(), o));
        return m;
    }
}
