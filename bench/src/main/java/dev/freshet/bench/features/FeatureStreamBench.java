package dev.freshet.bench.features;

import dev.freshet.bench.BenchReport;
import dev.freshet.config.ConfigSource;
import dev.freshet.features.FeatureLayout;
import dev.freshet.featurestream.EmbeddedFeatureJob;
import dev.freshet.featurestream.FeatureStreamConfig;
import dev.freshet.kafka.EmbeddedKafka;
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
 * apart), produced with LZ4 as the ingest CLI does. Measured per run: the time from the first committed
 * example to the last (steady state; job start-up and the first checkpoint excluded), and the process
 * CPU time per event (broker, job and the counting consumer share this JVM and the machine's cores),
 * and the machine's load average at the end of each run (other processes compete for the same cores:
 * at a load of 20 on 2 cores the job gets a fraction of them, and events/s says more about the
 * neighbours than about the job; CPU time per event does not depend on them as much).
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
 * checkpoint interval, {@code --shared DIR} where data/ is, {@code --out FILE} the JSON
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

            for (int p : parallelisms) {
                Topics topics = new Topics(clicks, "bench.clicks.json", "bench.clicks.dlq", "bench.p" + p + ".features",
                        "bench.p" + p + ".features.dlq", "bench.p" + p + ".feature-stats", "bench.model-updates");
                kafka.createTopic(topics.features(), p);
                kafka.createTopic(topics.featuresDlq(), 1);
                kafka.createTopic(topics.featureStats(), 1);
                Map<String, String> settings = new HashMap<>();
                settings.put("kafka.bootstrap-servers", kafka.bootstrapServers());
                settings.put("feature-stream.parallelism", Integer.toString(p));
                settings.put("feature-stream.checkpoint-interval", checkpoint);
                settings.put("feature-stream.group-id", "bench-p" + p);
                settings.put("feature-stream.transactional-id-prefix", "bench-p" + p);
                settings.put("freshet.work-dir", work.resolve("p" + p).toString());
                FeatureStreamConfig base = FeatureStreamConfig.from(ConfigSource.of(settings));
                FeatureStreamConfig config = new FeatureStreamConfig(base.bootstrapServers(), topics, layout, p,
                        base.checkpointInterval(), base.dedupWindow(), base.labelWindow(), base.allowedLateness(), base.idleTimeout(),
                        base.statsWindow(), base.topK(), base.batchSize(), base.linger(), base.groupId(),
                        base.transactionalIdPrefix(), base.workDir());
                Run run = runJob(kafka, config, events);
                System.out.printf(Locale.ROOT, "parallelism %d: %,.0f events/s steady (%,.0f incl. start-up), %.2f us CPU/event%n",
                        p, run.steadyRate, run.totalRate, run.cpuMicrosPerEvent);
                report.add("p" + p + "_events_per_s", Math.round(run.steadyRate), "events/s", true, TARGET);
                report.add("p" + p + "_events_per_s_incl_startup", Math.round(run.totalRate), "events/s", true, null);
                report.add("p" + p + "_cpu_us_per_event", Math.round(run.cpuMicrosPerEvent * 100) / 100.0, "us", false, null);
                // The machine is shared: its load says how much of the 2 cores this run could have had.
                report.add("p" + p + "_machine_load_avg_1m", Math.round(ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage() * 10) / 10.0,
                        "runnable", false, null);
            }
        }
        report.write(out);
    }

    private record Run(double steadyRate, double totalRate, double cpuMicrosPerEvent) {
    }

    private static Run runJob(EmbeddedKafka kafka, FeatureStreamConfig config, int events) throws Exception {
        long cpu0 = processCpuNanos();
        long start = System.nanoTime();
        long first = 0;
        long firstCount = 0;
        long count = 0;
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
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                    count += exampleCount(r.value());
                }
                if (first == 0 && count > 0) {
                    first = System.nanoTime();
                    firstCount = count;
                }
            }
        }
        long end = System.nanoTime();
        long cpu = processCpuNanos() - cpu0;
        job.close();
        if (count != events) {
            throw new IllegalStateException("committed " + count + " examples for " + events + " input events");
        }
        // Steady state: from the first committed checkpoint to the last example, not counting the first checkpoint's examples.
        return new Run((events - firstCount) / ((end - first) / 1e9), events / ((end - start) / 1e9), cpu / 1e3 / events);
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
