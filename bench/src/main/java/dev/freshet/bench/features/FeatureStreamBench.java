package dev.freshet.bench.features;

import dev.freshet.bench.BenchReport;
import dev.freshet.config.ConfigSource;
import dev.freshet.features.FeatureLayout;
import dev.freshet.featurestream.EmbeddedFeatureJob;
import dev.freshet.featurestream.FeatureStreamConfig;
import dev.freshet.kafka.EmbeddedKafka;
import dev.freshet.trainer.checkpoint.CheckpointStore;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.EventKind;
import dev.freshet.schemas.Topics;
import dev.freshet.schemas.serde.AvroCodec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Throughput of the feature job (Flink MiniCluster in this JVM) from a pre-filled {@code clicks} topic
 * to committed {@code features} (read_committed), at parallelism 1 and 2, on the in-process broker.
 * The input is the Criteo sample repeated with unique event ids (LABELED events, event times 1 ms
 * apart), produced with LZ4 as the ingest CLI does. A run ends when every input event has been read
 * back, committed, from {@code features}. Unmeasured warm-up runs go first (one per parallelism), so that
 * the measured runs see compiled code, as a long-running job does (their figures are recorded as
 * warm-ups). Measured per run:
 * <ul>
 * <li>{@code events_per_s} (the target): examples written per second in steady state, from the write
 * time of the first {@code features} record to that of the last (Kafka CreateTime, which the sink's
 * producer stamps; job start-up is before the first, and the examples of the first record are not
 * counted). Committed output alone cannot time this: a transaction becomes visible only when a
 * checkpoint completes, so on a run of a few checkpoint intervals the time from first to last commit
 * is a whole number of intervals, however early the job finished within the last one.</li>
 * <li>{@code events_per_s_commit_to_commit}: examples committed after the first commit, over the time
 * from the first commit to the last; quantised by the checkpoint interval as just said.</li>
 * <li>{@code events_per_s_incl_startup}: all events over the time from job submission to the last commit.</li>
 * <li>{@code jit_compile_ms}: time the JIT spent compiling during the run (its threads share the cores).</li>
 * <li>the process CPU time per event (broker, job and the counting consumer share this JVM and the
 * machine's cores), and the machine's load average at the end of each run (other processes compete
 * for the same cores: at a load of 20 on 2 cores the job gets a fraction of them, and events/s says
 * more about the neighbours than about the job; CPU time per event does not depend on them as much).</li>
 * </ul>
 *
 * <pre>
 * mvn -B -o -q -pl bench -am install -DskipTests
 * mvn -B -o -q -pl bench exec:exec -Dexec.executable=java -Dexec.args="-Xmx4g \
 *     -Dorg.apache.avro.SERIALIZABLE_PACKAGES=dev.freshet -cp %classpath \
 *     dev.freshet.bench.features.FeatureStreamBench --events 1000000"
 * </pre>
 * (exec:exec, not exec:java: Flink's MiniCluster resolves job classes through the JVM's class path and
 * cannot see exec:java's isolated class loader.)
 * Flags: {@code --events N} input size, {@code --parallelism 1,2} the runs, {@code --checkpoint 5s}
 * checkpoint interval, {@code --warmup true} one unmeasured run per parallelism (all events) before them,
 * {@code --shared DIR} where data/ is, {@code --out FILE} the JSON
 * (default bench/results/features.json).
 */
public final class FeatureStreamBench {
    private static final String SAMPLE = "data/criteo-kaggle-sample-10k.tsv";
    private static final long T0 = 1_700_000_000_000L;
    private static final double TARGET = 200_000;

    private FeatureStreamBench() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> flags = flags(args);
        int events = Integer.parseInt(flags.getOrDefault("events", "1000000"));
        String checkpoint = flags.getOrDefault("checkpoint", "5s");
        boolean warmup = Boolean.parseBoolean(flags.getOrDefault("warmup", "true"));
        List<Integer> parallelisms = new ArrayList<>();
        for (String p : flags.getOrDefault("parallelism", "1,2").split(",")) parallelisms.add(Integer.parseInt(p.trim()));
        // Maven runs the bench in the module directory (bench/); resolve defaults from the project root either way.
        Path root = Path.of("").toAbsolutePath().getFileName().toString().equals("bench") ? Path.of("..") : Path.of(".");
        Path shared = Path.of(flags.getOrDefault("shared", System.getProperty("freshet.shared.dir", root.resolve("../shared").toString())));
        Path out = Path.of(flags.getOrDefault("out", root.resolve("bench/results/features.json").toString()));
        Path sample = shared.resolve(SAMPLE);
        if (!Files.isRegularFile(sample)) {
            System.err.println("no Criteo sample at " + sample + ". Fix: pass --shared DIR with data/criteo-kaggle-sample-10k.tsv in it.");
            System.exit(2);
        }
        System.setProperty("org.slf4j.simpleLogger.log.org.apache.flink.metrics.MetricGroup", "error");
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");

        FeatureLayout layout = FeatureLayout.criteo(100_000);
        Path work = Files.createTempDirectory("freshet-feature-bench-");
        BenchReport report = new BenchReport("mvn -B -o -q -pl bench exec:exec -Dexec.executable=java -Dexec.args=\"-Xmx4g"
                + " -Dorg.apache.avro.SERIALIZABLE_PACKAGES=dev.freshet -cp %classpath " + FeatureStreamBench.class.getName()
                + " --events " + events + " --checkpoint " + checkpoint + "\"", BenchReport.thisMachine());
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            String clicks = "bench.clicks";
            kafka.createTopic(clicks, 2);
            long fillStart = System.nanoTime();
            long bytes = prefill(kafka, clicks, layout, sample, events);
            double fillSeconds = (System.nanoTime() - fillStart) / 1e9;
            System.out.printf(Locale.ROOT, "pre-filled %s with %,d events (%.0f bytes each) in %.1f s%n", clicks, events,
                    (double) bytes / events, fillSeconds);
            report.add("input_events", events, "events", true, null);
            report.add("input_avro_bytes_per_event", Math.round((double) bytes / events), "bytes", false, null);

            if (warmup) {
                // Unmeasured runs first, one per measured parallelism: the JIT compiles the broker's, Flink's and
                // the job's hot paths while they run (the compiler threads took a third of the 2 cores during a cold
                // run, and still a fifth during the first run after one warm-up), which is start-up, not steady state.
                for (int p : parallelisms) {
                    Run run = runJob(kafka, config(kafka, clicks, layout, work, checkpoint, p, "warmup-p" + p), events);
                    System.out.printf(Locale.ROOT, "warm-up at parallelism %d (not a result): %,.0f events/s steady, %.2f us CPU/event, "
                            + "JIT %,d ms%n", p, run.steadyRate, run.cpuMicrosPerEvent, run.compileMillis);
                    report.add("warmup_p" + p + "_events_per_s", Math.round(run.steadyRate), "events/s", true, null);
                }
            }
            for (int p : parallelisms) {
                FeatureStreamConfig config = config(kafka, clicks, layout, work, checkpoint, p, "p" + p);
                Run run = runJob(kafka, config, events);
                System.out.printf(Locale.ROOT, "parallelism %d: %,.0f events/s steady (%,.0f commit to commit, %,.0f incl. start-up), "
                                + "%.2f us CPU/event, JIT %,d ms; commits seen: %s%n",
                        p, run.steadyRate, run.commitRate, run.totalRate, run.cpuMicrosPerEvent, run.compileMillis, run.commits);
                report.add("p" + p + "_events_per_s", Math.round(run.steadyRate), "events/s", true, TARGET);
                report.add("p" + p + "_events_per_s_commit_to_commit", Math.round(run.commitRate), "events/s", true, null);
                report.add("p" + p + "_events_per_s_incl_startup", Math.round(run.totalRate), "events/s", true, null);
                report.add("p" + p + "_cpu_us_per_event", Math.round(run.cpuMicrosPerEvent * 100) / 100.0, "us", false, null);
                // Part of that CPU is the JIT compiling, not the job running: large while the JVM is still warming up.
                report.add("p" + p + "_jit_compile_ms", run.compileMillis, "ms", false, null);
                // The machine is shared: its load says how much of the 2 cores this run could have had.
                report.add("p" + p + "_machine_load_avg_1m", Math.round(ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage() * 10) / 10.0,
                        "runnable", false, null);
            }
        } finally {
            // The jobs' checkpoints and savepoints (tens of MB per run) are of no use once the figures are taken.
            CheckpointStore.deleteRecursively(work);
        }
        report.write(out);
    }

    /** The job's settings for one run, with its own output topics, consumer group, transactional ids and work directory. */
    private static FeatureStreamConfig config(EmbeddedKafka kafka, String clicks, FeatureLayout layout, Path work, String checkpoint,
                                              int p, String name) throws Exception {
        Topics topics = new Topics(clicks, "bench.clicks.json", "bench.clicks.dlq", "bench." + name + ".features",
                "bench." + name + ".features.dlq", "bench." + name + ".feature-stats", "bench.model-updates");
        kafka.createTopic(topics.features(), p);
        kafka.createTopic(topics.featuresDlq(), 1);
        kafka.createTopic(topics.featureStats(), 1);
        Map<String, String> settings = new HashMap<>();
        settings.put("kafka.bootstrap-servers", kafka.bootstrapServers());
        settings.put("feature-stream.parallelism", Integer.toString(p));
        settings.put("feature-stream.checkpoint-interval", checkpoint);
        settings.put("feature-stream.group-id", "bench-" + name);
        settings.put("feature-stream.transactional-id-prefix", "bench-" + name);
        settings.put("freshet.work-dir", work.resolve(name).toString());
        FeatureStreamConfig base = FeatureStreamConfig.from(ConfigSource.of(settings));
        return new FeatureStreamConfig(base.bootstrapServers(), topics, layout, p,
                base.checkpointInterval(), base.dedupWindow(), base.labelWindow(), base.allowedLateness(), base.idleTimeout(),
                base.statsWindow(), base.topK(), base.batchSize(), base.linger(), base.groupId(),
                base.transactionalIdPrefix(), base.workDir());
    }

    private record Run(double steadyRate, double commitRate, double totalRate, double cpuMicrosPerEvent, long compileMillis,
                       String commits) {
    }

    private static Run runJob(EmbeddedKafka kafka, FeatureStreamConfig config, int events) throws Exception {
        long cpu0 = processCpuNanos();
        long compile0 = ManagementFactory.getCompilationMXBean().getTotalCompilationTime();
        long start = System.nanoTime();
        long first = 0;
        long firstCount = 0;
        long count = 0;
        // Write times (CreateTime, ms) of the first and last features records, and the examples in the first.
        long firstWrite = Long.MAX_VALUE;
        long lastWrite = Long.MIN_VALUE;
        long examplesAtFirstWrite = 0;
        StringBuilder commits = new StringBuilder();
        EmbeddedFeatureJob job = EmbeddedFeatureJob.start(config);
        Map<String, Object> p = kafka.clientProps();
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 8 << 20);
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = consumer.partitionsFor(config.topics().features()).stream()
                    .map(i -> new TopicPartition(i.topic(), i.partition())).toList();
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
            while (count < events) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("after 5 minutes only " + count + " of " + events + " examples were committed");
                }
                long before = count;
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                    int n = exampleCount(r.value());
                    count += n;
                    long written = r.timestamp();
                    if (written < firstWrite) {
                        firstWrite = written;
                        examplesAtFirstWrite = 0;
                    }
                    if (written == firstWrite) examplesAtFirstWrite += n;
                    lastWrite = Math.max(lastWrite, written);
                }
                if (count > before) {
                    commits.append(String.format(Locale.ROOT, "%s%.1f s %,d", commits.length() == 0 ? "" : ", ",
                            (System.nanoTime() - start) / 1e9, count));
                }
                if (first == 0 && count > 0) {
                    first = System.nanoTime();
                    firstCount = count;
                }
            }
        }
        long end = System.nanoTime();
        long cpu = processCpuNanos() - cpu0;
        long compileMillis = ManagementFactory.getCompilationMXBean().getTotalCompilationTime() - compile0;
        job.close();
        if (count != events) {
            throw new IllegalStateException("committed " + count + " examples for " + events + " input events");
        }
        if (lastWrite <= firstWrite) {
            throw new IllegalStateException("all " + events + " examples were written within one millisecond; the write rate "
                    + "cannot be timed. Fix: pass a larger --events.");
        }
        // Steady state by write time, not counting the first record's examples (written at the start of the interval).
        double steady = (events - examplesAtFirstWrite) / ((lastWrite - firstWrite) / 1e3);
        // From the first commit to the last example, not counting the first commit's examples.
        double commitToCommit = (events - firstCount) / ((end - first) / 1e9);
        return new Run(steady, commitToCommit, events / ((end - start) / 1e9), cpu / 1e3 / events, compileMillis, commits.toString());
    }

    /** Examples in an encoded FeatureBatch, from its first fields (layoutId long, count int) without decoding the arrays. */
    static int exampleCount(byte[] record) {
        int[] pos = {AvroCodec.HEADER_BYTES};
        readVarLong(record, pos); // layoutId
        return (int) readVarLong(record, pos);
    }

    private static long readVarLong(byte[] b, int[] pos) {
        long raw = 0;
        int shift = 0;
        while (true) {
            int x = b[pos[0]++] & 0xFF;
            raw |= (long) (x & 0x7F) << shift;
            if ((x & 0x80) == 0) break;
            shift += 7;
        }
        return (raw >>> 1) ^ -(raw & 1); // zig-zag
    }

    private static long prefill(EmbeddedKafka kafka, String topic, FeatureLayout layout, Path sample, int events) throws IOException {
        List<String[]> rows = new ArrayList<>();
        for (String line : Files.readAllLines(sample, StandardCharsets.UTF_8)) rows.add(line.split("\t", -1));
        AvroCodec<ClickEvent> codec = new AvroCodec<>(ClickEvent.class);
        Map<String, Object> p = kafka.clientProps();
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024);
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4");
        long bytes = 0;
        long layoutId = layout.id();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            for (int i = 0; i < events; i++) {
                String[] f = rows.get(i % rows.size());
                List<Double> dense = new ArrayList<>(13);
                for (int k = 1; k <= 13; k++) dense.add(f[k].isEmpty() ? null : Double.valueOf(f[k]));
                List<String> cat = new ArrayList<>(26);
                for (int k = 14; k < 40; k++) cat.add(f[k].isEmpty() ? null : f[k]);
                String id = "criteo:" + i;
                ClickEvent e = ClickEvent.newBuilder().setEventId(id).setEventTime(Instant.ofEpochMilli(T0 + i)).setKind(EventKind.LABELED)
                        .setLabel(Integer.parseInt(f[0])).setLayoutId(layoutId).setDense(dense).setCategorical(cat).build();
                byte[] value = codec.encode(e);
                bytes += value.length;
                producer.send(new ProducerRecord<>(topic, id.getBytes(StandardCharsets.UTF_8), value));
            }
            producer.flush();
        }
        return bytes;
    }

    private static long processCpuNanos() {
        var os = ManagementFactory.getOperatingSystemMXBean();
        return os instanceof com.sun.management.OperatingSystemMXBean sun ? sun.getProcessCpuTime() : 0;
    }

    private static Map<String, String> flags(String[] args) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) throw new IllegalArgumentException("expected --flag value, got " + args[i]);
            m.put(args[i].substring(2), args[i + 1]);
        }
        return m;
    }
}
