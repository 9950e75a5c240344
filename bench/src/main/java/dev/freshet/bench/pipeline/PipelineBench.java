package dev.freshet.bench.pipeline;

import dev.freshet.bench.BenchReport;
import dev.freshet.config.ConfigSource;
import dev.freshet.ingest.ClickProducer;
import dev.freshet.ingest.EventTimeSource;
import dev.freshet.ingest.IngestConfig;
import dev.freshet.ingest.SyntheticClicks;
import dev.freshet.ingest.SyntheticConfig;
import dev.freshet.platform.EmbeddedFreshet;
import dev.freshet.platform.FreshnessTracker;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.Topics;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/**
 * The whole embedded pipeline on this machine (in-process broker, Flink feature job on a MiniCluster,
 * trainer, publisher, one serving replica, all in one JVM), in three measured phases of one run:
 * <ol>
 *   <li><b>freshness</b>: {@code --low-rate} events/s (default 2,000, the demo's rate; 0 skips it), then
 *       {@code --rate} events/s (default 10,000), each for {@code --seconds}; for each event,
 *       production time to the moment the serving replica swaps in a version trained on it (p50, p99;
 *       target p99 at most 1 s), split into stages (committed on {@code features}, trained, version
 *       written, served; see {@link FreshnessTracker#stages}). Events still unserved when the window
 *       closes are counted (and waited for, up to a limit): a pipeline that cannot keep up shows here.</li>
 *   <li><b>bare Kafka</b>: the same producer (same settings, same synthetic events) into a topic nothing
 *       reads: the most events/s this broker and producer take here.</li>
 *   <li><b>throughput</b>: {@code --rounds} rounds (default 5) of {@code --events} events (default 300,000, about
 *       4-5 s here) produced as fast as the producer goes; in each, sustained events/s from the first send to the
 *       last example committed to {@code features} (the trainer's input), plus each stage's own rate (produced,
 *       featurised, trained). Each round starts once the trainer has caught up with the one before. The figure is
 *       the median round, against the median of as many bare rounds; every round is in the results too. Ratio to
 *       the bare rate: target at least 0.5. Bare and throughput come last, after minutes of running, so that
 *       neither rate includes the JIT's start-up work.</li>
 * </ol>
 * Each measured window also reports the CPU it took per component (trainer, feature job, broker, producer,
 * publisher, serving, and the JVM's own JIT and GC threads), in cores, and the process's minor page faults.
 *
 * <p><b>JVM flags</b>: a fixed, pre-touched heap ({@code -Xms6g -Xmx6g -XX:+AlwaysPreTouch}, recorded in the
 * results' command). Without it G1 grows the heap while the benchmark runs, and whichever threads first touch
 * the new memory pay a page fault per 4 KiB: in this VM a heap grown by 1.3 GB two minutes into the
 * run cost the serving replica, among others, 3-5 times its CPU per DELTA in the windows that followed (a
 * start-up cost like the JIT's, which the warm-up below is there to keep out of the figures).
 *
 * <p><b>Warm-up</b> ({@code --warmup}, default 30 s; 0 turns it off): the JIT compiles the hot paths of the
 * broker, Flink, the clients and the trainer for a minute or more after start-up, taking up to half of one of
 * the two cores. So the bare and throughput phases each start with one round that is not measured, and each
 * freshness window follows {@code --warmup} seconds at its own rate that are not measured; a backlog built
 * during the warm-up still shows in the window.
 *
 * <p><b>Model</b>: unless {@code --set} gives {@code model.top-mlp}, the benchmark trains the default model
 * with a narrower top MLP, 64-32-1 instead of 128-64-1 (about 1.5x cheaper per example on the CPU), so that
 * the CPU trainer has a chance to keep up with 10,000 events/s beside the rest on 2 cores; the results'
 * command line records it as a {@code --set}.
 * <pre>
 * mvn -B -o -q -pl bench -am install -DskipTests
 * mvn -B -o -q -pl bench exec:exec -Dexec.executable=java -Dexec.args="-Xms6g -Xmx6g -XX:+AlwaysPreTouch -Dorg.apache.avro.SERIALIZABLE_PACKAGES=dev.freshet \
 *     --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED -cp %classpath \
 *     dev.freshet.bench.pipeline.PipelineBench --rate 10000 --seconds 20"
 * </pre>
 * (exec:exec, not exec:java: Flink's MiniCluster must see the job's classes on the JVM's own class path.)
 * Other flags: {@code --set key=value} for any Freshet setting (e.g. trainer.backend=cpu), {@code --warmup SECONDS},
 * {@code --events N} and {@code --rounds N} (see the throughput phase),
 * {@code --out FILE} (default bench/results/pipeline.json).
 */
public final class PipelineBench {
    /** Settings the benchmark uses where no --set gives them (see main). */
    static final Map<String, String> BENCH_MODEL = Map.of("model.top-mlp", "64,32,1");

    private PipelineBench() {
    }

    public static void main(String[] args) throws Exception {
        long events = 300_000;
        int rounds = 5;
        double rate = 10_000;
        double lowRate = 2_000;
        int seconds = 30;
        int warmup = 30;
        Path out = Path.of("bench/results/pipeline.json");
        Map<String, String> settings = new HashMap<>();
        // The JVM flags this run really had (heap size, -D, --add-opens), so that the recorded command reproduces it.
        String jvmFlags = String.join(" ", java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
        StringBuilder command = new StringBuilder("mvn -B -o -q -pl bench exec:exec -Dexec.executable=java -Dexec.args=\""
                + jvmFlags + " -cp %classpath " + PipelineBench.class.getName() + " ");
        for (int i = 0; i < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--events" -> events = Long.parseLong(v);
                case "--rounds" -> rounds = Integer.parseInt(v);
                case "--rate" -> rate = Double.parseDouble(v);
                case "--low-rate" -> lowRate = Double.parseDouble(v);
                case "--seconds" -> seconds = Integer.parseInt(v);
                case "--warmup" -> warmup = Integer.parseInt(v);
                case "--out" -> out = Path.of(v);
                case "--set" -> settings.put(v.substring(0, v.indexOf('=')), v.substring(v.indexOf('=') + 1));
                default -> throw new IllegalArgumentException("unknown flag " + args[i] + "; see the class comment for the flags");
            }
            if (!args[i].equals("--out")) command.append(i == 0 ? "" : " ").append(args[i]).append(' ').append(v);
        }
        command.append('"');
        if (events < 1 || rounds < 1) {
            throw new IllegalArgumentException("--events and --rounds must be at least 1; got " + events + " and " + rounds);
        }
        if (!Files.isDirectory(out.toAbsolutePath().getParent())) {
            // exec:java runs in the module directory when invoked with -pl bench
            out = Path.of("results").resolve(out.getFileName());
        }

        // The benchmark's model, unless --set says otherwise: the default model with a narrower top MLP (64-32-1 instead of
        // 128-64-1), about 1.5x cheaper per example on the CPU, so that the CPU trainer can keep up with 10,000 events/s
        // beside everything else on 2 cores. Recorded in the command line of the results.
        for (Map.Entry<String, String> e : BENCH_MODEL.entrySet()) {
            if (settings.putIfAbsent(e.getKey(), e.getValue()) == null) {
                command.insert(command.length() - 1, " --set " + e.getKey() + "=" + e.getValue());
            }
        }
        Path work = Files.createTempDirectory("freshet-pipeline-bench-");
        settings.putIfAbsent("freshet.work-dir", work.toString());
        // The load average says how much of the machine the run had (others may share it).
        double load = java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        BenchReport report = new BenchReport(command.toString(), BenchReport.thisMachine()
                + String.format(Locale.ROOT, ", load average at start %.1f", load));
        long t0 = System.currentTimeMillis();
        EmbeddedFreshet stopped = null;
        try (EmbeddedFreshet f = EmbeddedFreshet.start(ConfigSource.of(settings))) {
            log("pipeline up in %.1f s", (System.currentTimeMillis() - t0) / 1000.0);
            SyntheticConfig synthetic = SyntheticConfig.defaults().withSeed(11);
            SyntheticClicks clicks = new SyntheticClicks(synthetic, f.layout(), EventTimeSource.wallClock(Clock.systemUTC()));

            // 1. Freshness at fixed rates: first the demo's rate, then the target rate.
            if (lowRate > 0) {
                freshnessPhase(f, clicks, lowRate, warmup, seconds, "freshness_at_" + (long) lowRate + "_", report, null);
            }
            freshnessPhase(f, clicks, rate, warmup, seconds, "freshness_", report, 1.0);

            // 2. Bare Kafka: the same producer and events into a topic nobody consumes. Measured after the freshness phases,
            // like the throughput phase, so that both rates are taken after minutes of running, when the JIT has settled.
            Topics bareTopics = Topics.withPrefix("bench-bare.");
            f.kafka().createTopic(bareTopics.clicks(), 1);
            // With a warm-up, one unmeasured round of each goes first: the first run of a code path is slower while the
            // JIT compiles it (for tens of seconds after start-up, up to half a core here).
            int unmeasured = warmup > 0 ? 1 : 0;
            double[] bareRounds = new double[rounds];
            try (ClickProducer bareProducer = ClickProducer.create(IngestConfig.from(f.config()
                    .with("kafka.bootstrap-servers", f.kafka().bootstrapServers()).with(Topics.PREFIX, "bench-bare.")))) {
                for (int round = -unmeasured; round < rounds; round++) {
                    long acked0 = bareProducer.acked();
                    long start = System.nanoTime();
                    for (long n = 0; n < events; n++) bareProducer.send(clicks.next(), (m, e) -> { });
                    bareProducer.flush();
                    double roundRate = (bareProducer.acked() - acked0) / ((System.nanoTime() - start) / 1e9);
                    if (round >= 0) bareRounds[round] = roundRate;
                    log("bare produce%s: %.0f events/s", round < 0 ? " (warm-up, not measured)" : " round " + (round + 1), roundRate);
                }
            }
            double bare = median(bareRounds);

            // 3. Throughput: as fast as the producer goes, through featurisation to the trainer's input; rounds of --events,
            // each after the trainer has caught up with the one before (its catching up is not what this measures).
            double[] pipelineRounds = new double[rounds];
            double[] produceRounds = new double[rounds];
            double[] trainRounds = new double[rounds];
            Map<String, Double> coreSeconds = new LinkedHashMap<>();
            double measuredSeconds = 0;
            double faultCount = 0;
            for (int round = -unmeasured; round < rounds; round++) {
                long produced0 = f.producer().acked();
                long featurised0 = f.featureTap().examples();
                long trained0 = f.trained();
                CpuShare.Snapshot cpu0 = CpuShare.snapshot();
                long start = System.nanoTime();
                for (long n = 0; n < events; n++) f.producer().send(clicks.next(), (m, e) -> { });
                f.producer().flush();
                double produceSeconds = (System.nanoTime() - start) / 1e9;
                long n0 = events;
                if (!await(() -> f.featureTap().examples() - featurised0 >= n0, 300)) {
                    throw new IllegalStateException("only " + (f.featureTap().examples() - featurised0) + " of " + events
                            + " events reached the trainer's input within 300 s");
                }
                double featuresSeconds = (System.nanoTime() - start) / 1e9;
                CpuShare.Snapshot cpu1 = CpuShare.snapshot();
                if (f.producer().acked() != produced0 + events) {
                    throw new IllegalStateException("producer acknowledged " + (f.producer().acked() - produced0) + " of " + events + " events");
                }
                // Without trainer.batch-linger the trainer cuts batches at fixed points of the stream: a last partial batch
                // waits for more examples. With it, every example is trained.
                long trainable = f.trainsPartialBatches() ? n0 : n0 / f.batchSize() * f.batchSize();
                boolean trainedAll = await(() -> f.trained() - trained0 >= trainable, 180);
                double trainSeconds = (System.nanoTime() - start) / 1e9;
                double roundRate = events / featuresSeconds;
                if (round < 0) {
                    log("throughput warm-up round, not measured: %.0f events/s to the trainer's input", roundRate);
                    continue;
                }
                pipelineRounds[round] = roundRate;
                produceRounds[round] = events / produceSeconds;
                trainRounds[round] = (f.trained() - trained0) / trainSeconds;
                log("throughput round %d: %.0f events/s to the trainer's input (%.2f of the bare rate); produced in %.1f s,"
                                + " features in %.1f s, trained in %.1f s%s", round + 1, roundRate, roundRate / bare, produceSeconds, featuresSeconds,
                        trainSeconds, trainedAll ? "" : " (gave up waiting for the trainer)");
                double seconds1 = (cpu1.nanoTime() - cpu0.nanoTime()) / 1e9;
                CpuShare.between(cpu0, cpu1).forEach((component, c) -> coreSeconds.merge(component, c * seconds1, Double::sum));
                faultCount += CpuShare.minorFaultsPerSecond(cpu0, cpu1) * seconds1;
                measuredSeconds += seconds1;
            }
            double pipeline = median(pipelineRounds);

            report.add("bare_kafka_produce_events_per_s", bare, "events/s", true, null);
            report.add("pipeline_producer_to_trainer_input_events_per_s", pipeline, "events/s", true, null);
            report.add("pipeline_vs_bare_ratio", pipeline / bare, "ratio", true, 0.5);
            for (int round = 0; round < rounds; round++) {
                report.add("round_" + (round + 1) + "_bare_events_per_s", bareRounds[round], "events/s", true, null);
                report.add("round_" + (round + 1) + "_pipeline_events_per_s", pipelineRounds[round], "events/s", true, null);
            }
            report.add("stage_produce_events_per_s", median(produceRounds), "events/s", true, null);
            report.add("stage_featurise_events_per_s", pipeline, "events/s", true, null);
            report.add("stage_train_events_per_s", median(trainRounds), "events/s", true, null);
            report.add("throughput_events", events, "events", true, null);
            report.add("throughput_rounds", rounds, "rounds", true, null);
            log("throughput: median of %d rounds %.0f events/s against a bare %.0f: ratio %.3f (rounds %s against %s)", rounds, pipeline,
                    bare, pipeline / bare, rates(pipelineRounds), rates(bareRounds));
            StringBuilder line = new StringBuilder();
            double span = measuredSeconds;
            coreSeconds.forEach((component, cs) -> {
                double c = cs / span;
                line.append(String.format(Locale.ROOT, " %s %.2f,", component, c));
                report.add("throughput_cpu_cores_" + component.replaceAll("[^a-z]+", "_").replaceAll("_$", ""), c, "cores", false, null);
            });
            log("  CPU (cores) from the first send to the last example committed, over the measured rounds:%s; minor page faults %.0f/s",
                    line.substring(0, Math.max(0, line.length() - 1)), faultCount / span);
            report.add("throughput_minor_page_faults_per_s", faultCount / span, "faults/s", false, null);

            report.add("time_to_first_served_model_s", (f.firstModelServedAt() - t0) / 1000.0, "s", false, 60.0);
            report.add("trainer_backend_is_gpu", f.trainerDescription().startsWith("cuda") ? 1 : 0, "bool", true, null);
            log("trainer: %s, model %s", f.trainerDescription(), f.trainer().config());
            // Written before the pipeline stops, so that a failure while stopping cannot lose the figures.
            report.write(out);
            stopped = f;
        } finally {
            deleteQuietly(work);
        }
        // Stopping wrote the trainer's final checkpoint; training stands still while one is written (every
        // trainer.checkpoint-interval while it runs), which is what a checkpoint costs freshness.
        if (stopped != null && stopped.lastCheckpointStallMillis() >= 0) {
            report.add("trainer_checkpoint_stall_s", stopped.lastCheckpointStallMillis() / 1000.0, "s", false, null);
            report.write(out);
            log("trainer checkpoint: training stood still %.2f s while the final one was written", stopped.lastCheckpointStallMillis() / 1000.0);
        }
    }

    /**
     * {@code rate} events/s for {@code warmup} seconds (not measured) and then {@code seconds}, after the trainer
     * caught up with what came before; then waits (up to 60 s) until every event of the window is served and
     * reports freshness percentiles, per stage too, and the window's CPU per component.
     */
    private static void freshnessPhase(EmbeddedFreshet f, SyntheticClicks clicks, double rate, int warmup, int seconds, String prefix,
                                       BenchReport report, Double p99Target) throws InterruptedException {
        long target = f.producer().acked();
        boolean caughtUp = await(() -> f.caughtUp(target), 180);
        if (!caughtUp) log("the trainer has not caught up with the previous phase after 180 s; measuring freshness anyway");
        FreshnessTracker freshness = f.freshness();
        double nanosPerEvent = 1e9 / rate;
        if (warmup > 0) {
            // The same rate, not measured: the JIT compiles the broker's, Flink's and the trainer's hot paths for tens of
            // seconds after start-up (half a core here), which is start-up cost, not the pipeline's steady state.
            long warm = 0;
            long warmBegin = System.nanoTime();
            while (System.nanoTime() < warmBegin + warmup * 1_000_000_000L) {
                long wait = warmBegin + (long) (warm * nanosPerEvent) - System.nanoTime();
                if (wait > 0) LockSupport.parkNanos(wait);
                f.producer().send(clicks.next(), (m, x) -> { });
                warm++;
            }
        }
        freshness.restartTotals(System.currentTimeMillis());
        CpuShare.Snapshot cpu0 = CpuShare.snapshot();
        long sent = 0;
        long begin = System.nanoTime();
        long end = begin + seconds * 1_000_000_000L;
        while (System.nanoTime() < end) {
            long due = begin + (long) (sent * nanosPerEvent);
            long wait = due - System.nanoTime();
            if (wait > 0) LockSupport.parkNanos(wait);
            ClickEvent e = clicks.next();
            f.producer().send(e, (m, x) -> { });
            sent++;
        }
        f.producer().flush();
        double offered = sent / ((System.nanoTime() - begin) / 1e9);
        // The window's CPU only: what each component spends at this rate.
        CpuShare.Snapshot cpu1 = CpuShare.snapshot();
        Map<String, Double> cores = CpuShare.between(cpu0, cpu1);
        double faults = CpuShare.minorFaultsPerSecond(cpu0, cpu1);
        // Without a batch linger, the trainer's last partial batch waits for more examples: it is not expected to be served.
        long expected = f.trainsPartialBatches() ? sent : sent - (f.batchSize() - 1);
        boolean servedAll = await(() -> freshness.summary().count() >= expected, 60);
        FreshnessTracker.Summary s = freshness.summary();
        log("freshness at %.0f events/s: %d of %d events served, p50 %.3f s, p99 %.3f s, max %.3f s%s", offered, s.count(), sent,
                s.p50Seconds(), s.p99Seconds(), s.maxSeconds(), servedAll ? "" : " (not every event was served within 60 s of the window's end)");
        report.add(prefix + "offered_events_per_s", offered, "events/s", true, null);
        report.add(prefix + "warmup_s", warmup, "s", false, null);
        report.add(prefix + "p50_s", s.p50Seconds(), "s", false, null);
        report.add(prefix + "p99_s", s.p99Seconds(), "s", false, p99Target);
        report.add(prefix + "max_s", s.maxSeconds(), "s", false, null);
        FreshnessTracker.Stages stages = freshness.stages();
        log("  where the time goes (p50 / p99 s): committed on features %.3f / %.3f, trained %.3f / %.3f, version written %.3f / %.3f, "
                        + "served %.3f / %.3f", stages.visible().p50Seconds(), stages.visible().p99Seconds(), stages.trained().p50Seconds(),
                stages.trained().p99Seconds(), stages.published().p50Seconds(), stages.published().p99Seconds(),
                stages.applied().p50Seconds(), stages.applied().p99Seconds());
        stage(report, prefix + "stage_committed_", stages.visible());
        stage(report, prefix + "stage_trained_", stages.trained());
        stage(report, prefix + "stage_published_", stages.published());
        stage(report, prefix + "stage_served_", stages.applied());
        StringBuilder line = new StringBuilder();
        cores.forEach((component, c) -> {
            line.append(String.format(Locale.ROOT, " %s %.2f,", component, c));
            report.add(prefix + "cpu_cores_" + component.replaceAll("[^a-z]+", "_").replaceAll("_$", ""), c, "cores", false, null);
        });
        log("  CPU (cores) while offering %.0f events/s:%s; minor page faults %.0f/s", offered, line.substring(0, Math.max(0, line.length() - 1)), faults);
        report.add(prefix + "minor_page_faults_per_s", faults, "faults/s", false, null);
        Map<String, Double> other = CpuShare.unattributed(cpu0, CpuShare.snapshot());
        if (!other.isEmpty()) log("  threads counted as other: %s", other);
        // Percentiles cover served events only; events not served within the wait are counted here, not hidden. Without
        // trainer.batch-linger a few hundred are expected: the trainer's last partial batch, and the rest of the features
        // record it ends in (an example counts as served only once its whole record is in a served version). With it, none.
        report.add(prefix + "unserved_events", Math.max(0, sent - s.count()), "events", false, null);
    }

    private static void stage(BenchReport report, String prefix, FreshnessTracker.Summary s) {
        report.add(prefix + "p50_s", s.p50Seconds(), "s", false, null);
        report.add(prefix + "p99_s", s.p99Seconds(), "s", false, null);
    }

    /** The median; of an even count, the mean of the middle two. */
    static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        int n = v.length;
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }

    private static String rates(double[] values) {
        StringBuilder s = new StringBuilder();
        for (double v : values) s.append(s.length() == 0 ? "" : ", ").append(Math.round(v));
        return s.toString();
    }

    private static boolean await(BooleanSupplier done, int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) return false;
            Thread.sleep(50);
        }
        return true;
    }

    private static void log(String format, Object... args) {
        System.out.println("[pipeline bench] " + String.format(Locale.ROOT, format, args));
    }

    private static void deleteQuietly(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // a temp directory; the OS cleans it eventually
        }
    }
}
