package dev.freshet.bench.retrain;

import dev.freshet.bench.BenchReport;
import dev.freshet.config.ConfigSource;
import dev.freshet.features.Examples;
import dev.freshet.features.FeatureLayout;
import dev.freshet.features.FeatureTransform;
import dev.freshet.ingest.EventTimeSource;
import dev.freshet.ingest.SyntheticClicks;
import dev.freshet.ingest.SyntheticConfig;
import dev.freshet.kafka.EmbeddedKafka;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.FeatureBatch;
import dev.freshet.schemas.serde.AvroCodec;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.TrainerBackend;
import dev.freshet.trainer.TrainingProgress;
import dev.freshet.trainer.cpu.CpuBackend;
import dev.freshet.trainer.host.HostModelState;
import dev.freshet.trainer.online.FileModelSink;
import dev.freshet.trainer.online.OnlineTrainer;
import dev.freshet.trainer.online.TrainerConfig;
import dev.freshet.trainer.online.TrainerListener;
import dev.freshet.trainer.retrain.LiveModel;
import dev.freshet.trainer.retrain.RetrainConfig;
import dev.freshet.trainer.retrain.RetrainJob;
import dev.freshet.trainer.retrain.RetrainResult;
import dev.freshet.trainer.retrain.RetrainTrigger;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What a full retrain costs, on this machine: how long it takes, and the online trainer's events/s
 * while it runs next to it in the same process (the design of {@link RetrainJob}) compared with the
 * same trainer alone on the same kind of backlog.
 *
 * <p>Set-up: an in-process broker; ingest's synthetic stream (default settings, Criteo-shaped layout:
 * 13 dense and 26 categorical columns of 100,000 rows; new hot IDs and ground truth after the warm-up, so
 * that the retrain, whose window starts there, is usually promoted) turned into {@code features} records of 1,024
 * examples on 2 partitions; the real {@link OnlineTrainer} with the CPU backend on every core and the
 * model of the default settings (dim 16, bottom 64-16, top 128-64-1, batch 1,024), one backend thread each for
 * the online trainer and the retrain ({@code online-threads}, {@code threads}). After a warm-up of
 * {@code warmup} events, each of {@code rounds} rounds (3 by default; medians are reported) measures:
 * <ol>
 *   <li>alone: a backlog of {@code backlog} events is produced and the online trainer's rate measured until
 *       it has trained it;</li>
 *   <li>during: another backlog is produced and a retrain started over the newest 51,200 events (1 pass,
 *       promoting whatever the outcome, {@code retrain.min-auc-gain = -1}, so that the hand-over is measured too);
 *       the online trainer's rate is measured while the retrain runs (and it still has a backlog).</li>
 * </ol>
 * Besides wall-clock rates it reports examples per CPU-second of the online training thread, which
 * separates "the retrain took cores away" from "the machine was busy with other work". Run alone:
 * <pre>
 * mvn -B -o -q -pl bench exec:java -Dexec.mainClass=dev.freshet.bench.retrain.RetrainBench [-Dexec.args="rounds=3 warmup=20480 backlog=40960"]
 * </pre>
 */
public final class RetrainBench {
    private static final int PER_RECORD = 1024;
    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
    private static final Duration STEP = Duration.ofMillis(10);

    private RetrainBench() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new HashMap<>();
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (eq < 0) throw new IllegalArgumentException("argument '" + arg + "' must be key=value (warmup, backlog, rounds, threads, online-threads, max-rate, out)");
            a.put(arg.substring(0, eq), arg.substring(eq + 1));
        }
        long warmup = Long.parseLong(a.getOrDefault("warmup", "20480"));
        long backlog = Long.parseLong(a.getOrDefault("backlog", "40960"));
        int retrainThreads = Integer.parseInt(a.getOrDefault("threads", "1"));
        // One thread each by default, so that a thread's CPU time is all of that trainer's compute.
        int onlineThreads = Integer.parseInt(a.getOrDefault("online-threads", "1"));
        int rounds = Integer.parseInt(a.getOrDefault("rounds", "3"));
        Path out = Path.of(a.getOrDefault("out", "bench/results/retrain.json"));
        String command = "mvn -B -o -q -pl bench exec:java -Dexec.mainClass=dev.freshet.bench.retrain.RetrainBench"
                + (args.length == 0 ? "" : " -Dexec.args=\"" + String.join(" ", args) + "\"");
        BenchReport report = new BenchReport(command, BenchReport.thisMachine() + ", load average at start "
                + String.format(Locale.ROOT, "%.1f", ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage()));

        FeatureLayout layout = FeatureLayout.criteo(100_000);
        ModelConfig model = ModelConfig.from(layout, ConfigSource.of(Map.of("model.batch-size", Integer.toString(PER_RECORD))));
        Path work = Files.createTempDirectory("freshet-retrain-bench");
        try (EmbeddedKafka kafka = EmbeddedKafka.start();
             FeatureLog log = new FeatureLog(kafka.clientProps(), "bench-features", 2, layout, warmup)) {
            // The synthetic events are stamped in the past: keep them whatever their age.
            kafka.createTopic("bench-features", 2, Map.of("retention.ms", "-1"));
            TrainerConfig config = TrainerConfig.from(ConfigSource.of(Map.of(
                    "kafka.bootstrap-servers", kafka.bootstrapServers(), "topics.prefix", "bench-",
                    "trainer.checkpoint-dir", work.resolve("checkpoints").toString(), "trainer.publish-dir", work.resolve("published").toString(),
                    "trainer.checkpoint-interval", "1d", "trainer.delta-interval", "1d", "trainer.status-interval", "1h",
                    "trainer.metric-window", "20000", "trainer.poll-timeout", "50ms")));
            AtomicLong onlineExamples = new AtomicLong();
            AtomicLong onlineThreadId = new AtomicLong(-1);
            ThreadMXBean threads = ManagementFactory.getThreadMXBean();
            Meter meter = new Meter();
            try (TrainerBackend backend = CpuBackend.create(model, onlineThreads);
                 FileModelSink sink = new FileModelSink(config.publishDir(), 2, 2);
                 OnlineTrainer trainer = OnlineTrainer.builder(config, model, layout.id()).backend(backend).sink(sink)
                         .consumer(new KafkaConsumer<>(OnlineTrainer.consumerProperties(config)))
                         .stateAllocator(HostModelState::allocate)
                         .listener(new TrainerListener() {
                             @Override
                             public void afterStep(long step, int partition, String from, String to, double loss) {
                                 onlineThreadId.set(Thread.currentThread().getId());
                                 meter.stepped(onlineExamples.addAndGet(PER_RECORD), threads);
                             }
                         }).build()) {
                Thread loop = new Thread(() -> {
                    try {
                        trainer.run();
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }, "online-trainer");
                List<Double> alone = new ArrayList<>();
                List<Double> aloneCpu = new ArrayList<>();
                List<Double> during = new ArrayList<>();
                List<Double> duringCpu = new ArrayList<>();
                List<Double> kept = new ArrayList<>();
                List<Double> retrainSeconds = new ArrayList<>();
                List<Double> candidateRate = new ArrayList<>();
                List<Double> cutMillis = new ArrayList<>();
                List<Double> handOverMillis = new ArrayList<>();
                long windowEvents = 0;
                loop.start();
                try {
                    // warm-up (the stream shifts right after it)
                    log.produce(warmup);
                    awaitExamples(onlineExamples, warmup);

                    for (int round = 1; round <= rounds; round++) {
                        // The online trainer alone on a backlog: from when the backlog is in the log until it is trained.
                        var aloneBacklog = log.prepare(backlog);
                        Meter.Sample a1 = meter.start(onlineExamples, onlineThreadId.get(), threads, log.events());
                        log.send(aloneBacklog);
                        Meter.Sample a2 = meter.awaitReached();
                        double aloneRate = a1.rateTo(a2);
                        alone.add(aloneRate);
                        aloneCpu.add(a1.cpuRateTo(a2));

                        // The same with a retrain beside it; counted until the backlog is trained or the retrain ends.
                        var duringBacklog = log.prepare(backlog);
                        TimedLive live = new TimedLive(trainer);
                        windowEvents = Math.min(onlineExamples.get(), 51_200);
                        String window = STEP.multipliedBy(windowEvents).toMillis() + "ms";
                        // Every candidate is promoted (retrain.min-auc-gain = -1): the bench measures the cost, the hand-over included.
                        Map<String, String> rs = new HashMap<>(Map.of("retrain.window", window, "retrain.passes", "1", "retrain.threads",
                                Integer.toString(retrainThreads), "retrain.holdout-examples", "8192", "retrain.min-holdout-examples", "1024",
                                "retrain.holdout-timeout", "1m", "retrain.dir", work.resolve("retrain").toString(), "retrain.min-auc-gain", "-1",
                                "retrain.max-logloss-increase", "100", "retrain.max-rate", a.getOrDefault("max-rate", "0")));
                        rs.put("retrain.progress", "false");
                        RetrainJob job = new RetrainJob(RetrainConfig.from(ConfigSource.of(rs)), live,
                                (m, n) -> CpuBackend.create(m, n), kafka.clientProps(), "bench-features",
                                // The window ends at the cut, about where the online trainer stands now.
                                Clock.fixed(log.eventTime(onlineExamples.get()), ZoneOffset.UTC), work.resolve("retrain"));
                        Meter.Sample d1 = meter.start(onlineExamples, onlineThreadId.get(), threads, log.events());
                        log.send(duringBacklog);
                        RetrainResult result = job.run(RetrainTrigger.COMMAND);
                        double seconds = (System.nanoTime() - d1.nanos()) / 1e9;
                        Meter.Sample d2 = meter.reachedOrNow(onlineExamples, onlineThreadId.get(), threads);
                        double duringRate = d1.rateTo(d2);
                        during.add(duringRate);
                        duringCpu.add(d1.cpuRateTo(d2));
                        kept.add(100 * duringRate / aloneRate);
                        retrainSeconds.add(seconds);
                        if (!result.trainTime().isZero()) candidateRate.add(result.trainedExamples() / (result.trainTime().toNanos() / 1e9));
                        cutMillis.add(live.copyMillis);
                        if (result.promoted()) handOverMillis.add(live.promoteMillis);
                        System.out.printf(Locale.ROOT, "round %d: online alone %.0f ex/s, during the retrain %.0f ex/s; retrain %.1f s: %s%n",
                                round, aloneRate, duringRate, seconds, result);
                        awaitExamples(onlineExamples, log.events());
                    }
                } finally {
                    // The loop owns the consumer: it must be done before the trainer (and its consumer) is closed.
                    trainer.stop();
                    loop.join(120_000);
                }

                String of = " (median of " + rounds + ")";
                report.add("retrain wall time, " + windowEvents + "-event window, 1 pass, to decision and hand-over" + of,
                        median(retrainSeconds), "s", false, null);
                report.add("retrain candidate training rate" + of, median(candidateRate), "examples/s", true, null);
                report.add("online trainer alone" + of, median(alone), "events/s", true, null);
                report.add("online trainer during a retrain" + of, median(during), "events/s", true, null);
                report.add("online throughput kept during a retrain" + of, median(kept), "%", true, null);
                report.add("online trainer alone, per cpu-second of its thread" + of, median(aloneCpu), "events/cpu-s", true, null);
                report.add("online trainer during a retrain, per cpu-second of its thread" + of, median(duringCpu), "events/cpu-s", true, null);
                report.add("online loop wait for the cut (copy of the model)" + of, median(cutMillis), "ms", false, null);
                if (!handOverMillis.isEmpty()) {
                    report.add("online loop wait for the hand-over (load, FULL, checkpoint), " + handOverMillis.size() + " promotion(s)",
                            median(handOverMillis), "ms", false, null);
                }
            }
        }
        report.write(out);
    }

    private static void awaitExamples(AtomicLong examples, long target) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofMinutes(10).toNanos();
        // Sleeps between looks, so that waiting takes no core from the trainers being measured.
        while (examples.get() < target) {
            if (System.nanoTime() > deadline) throw new IllegalStateException("the online trainer did not reach " + target + " examples");
            Thread.sleep(5);
        }
    }

    private static double median(List<Double> values) {
        if (values.isEmpty()) return Double.NaN;
        List<Double> v = new ArrayList<>(values);
        v.sort(null);
        int n = v.size();
        return n % 2 == 1 ? v.get(n / 2) : (v.get(n / 2 - 1) + v.get(n / 2)) / 2;
    }

    /**
     * Marks when the online trainer's example count reaches a target, from its own training thread (so that
     * nothing polls a core away from it), with that thread's CPU time.
     */
    private static final class Meter {
        record Sample(long examples, long nanos, long cpuNanos) {
            double rateTo(Sample end) {
                return (end.examples - examples) / ((end.nanos - nanos) / 1e9);
            }

            double cpuRateTo(Sample end) {
                return (end.examples - examples) / ((end.cpuNanos - cpuNanos) / 1e9);
            }
        }

        private volatile long target = Long.MAX_VALUE;
        private volatile Sample reached;

        Sample start(AtomicLong count, long threadId, ThreadMXBean threads, long target) {
            this.reached = null;
            this.target = target;
            return new Sample(count.get(), System.nanoTime(), threads.getThreadCpuTime(threadId));
        }

        void stepped(long examples, ThreadMXBean threads) {
            if (reached == null && examples >= target) {
                reached = new Sample(examples, System.nanoTime(), threads.getCurrentThreadCpuTime());
            }
        }

        /** Waits (sleeping, so that no core is taken from the trainers) until the target is reached. */
        Sample awaitReached() throws InterruptedException {
            long deadline = System.nanoTime() + Duration.ofMinutes(10).toNanos();
            while (reached == null) {
                if (System.nanoTime() > deadline) throw new IllegalStateException("the online trainer did not reach " + target + " examples");
                Thread.sleep(5);
            }
            return reached;
        }

        Sample reachedOrNow(AtomicLong count, long threadId, ThreadMXBean threads) {
            Sample r = reached;
            return r != null ? r : new Sample(count.get(), System.nanoTime(), threads.getThreadCpuTime(threadId));
        }
    }

    /** The online trainer, timing how long the retrain's two calls into its loop take. */
    private static final class TimedLive implements LiveModel {
        private final LiveModel live;
        volatile double copyMillis = Double.NaN;
        volatile double promoteMillis = Double.NaN;

        TimedLive(LiveModel live) {
            this.live = live;
        }

        @Override
        public ModelConfig config() {
            return live.config();
        }

        @Override
        public Map<TopicPartition, Long> position() {
            return live.position();
        }

        @Override
        public Map<TopicPartition, Long> copyTo(TrainerBackend target) {
            long t = System.nanoTime();
            Map<TopicPartition, Long> p = live.copyTo(target);
            copyMillis = (System.nanoTime() - t) / 1e6;
            return p;
        }

        @Override
        public void promote(ModelState candidate, TrainingProgress progress) {
            long t = System.nanoTime();
            live.promote(candidate, progress);
            promoteMillis = (System.nanoTime() - t) / 1e6;
        }

        @Override
        public double progressiveAuc() {
            return live.progressiveAuc();
        }
    }

    /** Ingest's synthetic clicks as the feature job would write them: FeatureTransform, records of 1,024, partitions in turn. */
    private static final class FeatureLog implements AutoCloseable {
        private final SyntheticClicks clicks;
        private final FeatureTransform transform;
        private final KafkaProducer<byte[], byte[]> producer;
        private final AvroCodec<FeatureBatch> codec = new AvroCodec<>(FeatureBatch.class);
        private final String topic;
        private final int partitions;
        private final FeatureLayout layout;
        private long records;

        FeatureLog(Map<String, Object> clientProps, String topic, int partitions, FeatureLayout layout, long shiftAfter) {
            this.layout = layout;
            this.clicks = new SyntheticClicks(SyntheticConfig.defaults().withShiftAfter(shiftAfter), layout,
                    EventTimeSource.sequence(T0, STEP));
            this.transform = new FeatureTransform(layout);
            Map<String, Object> props = new HashMap<>(clientProps);
            props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            props.put(ProducerConfig.LINGER_MS_CONFIG, 5);
            this.producer = new KafkaProducer<>(props);
            this.topic = topic;
            this.partitions = partitions;
        }

        long events() {
            return clicks.count();
        }

        Instant eventTime(long ordinal) {
            return T0.plus(STEP.multipliedBy(ordinal));
        }

        void produce(long events) {
            send(prepare(events));
        }

        /**
         * The next {@code events} events as encoded records, not sent yet: generating them is slower than the
         * online trainer, so a backlog is prepared first and then sent at once, and the trainer's rate is
         * measured from the send on.
         */
        List<ProducerRecord<byte[], byte[]>> prepare(long events) {
            List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>();
            Examples b = new Examples(PER_RECORD, layout.numDense(), layout.numCategorical());
            for (long done = 0; done < events; done += PER_RECORD) {
                b.clear();
                b.layoutId = layout.id();
                for (int i = 0; i < PER_RECORD; i++) {
                    ClickEvent e = clicks.next();
                    b.labels[i] = (byte) (int) e.getLabel();
                    List<Double> dense = e.getDense();
                    for (int d = 0; d < b.numDense; d++) {
                        Double raw = dense.get(d);
                        b.dense[i * b.numDense + d] = transform.dense(d, raw == null ? Double.NaN : raw);
                    }
                    List<String> cat = e.getCategorical();
                    for (int t = 0; t < b.numSparse; t++) b.sparse[i * b.numSparse + t] = transform.row(t, cat.get(t));
                    b.eventTimes[i] = e.getEventTime().toEpochMilli();
                    b.eventIds.add(e.getEventId());
                    b.count++;
                }
                out.add(new ProducerRecord<>(topic, (int) (records++ % partitions), b.eventTimes[0], null, codec.encode(b.toRecord())));
            }
            return out;
        }

        void send(List<ProducerRecord<byte[], byte[]>> prepared) {
            for (ProducerRecord<byte[], byte[]> r : prepared) producer.send(r);
            producer.flush();
        }

        @Override
        public void close() {
            producer.close(Duration.ofSeconds(5));
        }
    }
}
