package dev.freshet.bench.ingest;

import dev.freshet.bench.BenchReport;
import dev.freshet.config.CommandLine;
import dev.freshet.features.FeatureLayout;
import dev.freshet.ingest.ClickProducer;
import dev.freshet.ingest.EventTimeSource;
import dev.freshet.ingest.IngestConfig;
import dev.freshet.ingest.ParsedLine;
import dev.freshet.ingest.ReplayCommand;
import dev.freshet.ingest.TsvClickReader;
import dev.freshet.kafka.EmbeddedKafka;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.Topics;
import dev.freshet.schemas.serde.AvroCodec;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Replay throughput of the {@code ingest replay} command (parse TSV, build and Avro-encode each event,
 * idempotent acks=all producer) into the in-process broker, next to a bare kafka-clients producer that
 * sends the very same keys and encoded bytes with the same producer settings, in the same run and
 * against the same broker. Runs alternate (bare, replay, bare, replay, ...) so that both see the same
 * machine load; reported are the medians of each side's events/s, the median of the per-round ratios
 * (replay / the bare run just before it), and the process CPU time per event of each side (the broker
 * runs in this JVM, so that includes its work). Target: replay >= 0.8 of the bare producer.
 *
 * <pre>
 * mvn -B -o -q -pl bench -am install -DskipTests
 * mvn -B -o -q -pl bench exec:java -Dexec.mainClass=dev.freshet.bench.ingest.IngestBench \
 *     -Dexec.args="--copies 30 --rounds 3 --shared ../shared"
 * </pre>
 * Flags: {@code --copies N} how many times the 10,109-line Criteo sample is repeated in the input file,
 * {@code --rounds N} measured runs of each side, {@code --shared DIR} where data/ is,
 * {@code --out FILE} the JSON (default bench/results/ingest.json).
 */
public final class IngestBench {
    private static final String SAMPLE = "data/criteo-kaggle-sample-10k.tsv";

    private IngestBench() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> a = flags(args);
        int copies = Integer.parseInt(a.getOrDefault("copies", "30"));
        int rounds = Integer.parseInt(a.getOrDefault("rounds", "3"));
        Path shared = Path.of(a.getOrDefault("shared", System.getProperty("freshet.shared.dir", "../shared")));
        Path out = Path.of(a.getOrDefault("out", "bench/results/ingest.json"));
        Path sample = shared.resolve(SAMPLE);
        if (!Files.isRegularFile(sample)) {
            throw new IllegalArgumentException("Criteo sample " + sample + " not found. Fix: pass --shared DIR where DIR/" + SAMPLE + " exists.");
        }

        Path tmp = Files.createTempDirectory("freshet-ingest-bench-");
        Path input = tmp.resolve("criteo-x" + copies + ".tsv");
        byte[] sampleBytes = Files.readAllBytes(sample);
        try (OutputStream o = Files.newOutputStream(input)) {
            for (int i = 0; i < copies; i++) o.write(sampleBytes);
        }
        FeatureLayout layout = FeatureLayout.criteo(100_000);
        Instant start = Instant.parse("2024-01-01T00:00:00Z");
        // The bare producer's records: exactly the keys and bytes the replay produces (same layout, same event times).
        List<String> keys = new ArrayList<>();
        List<byte[]> values = new ArrayList<>();
        AvroCodec<ClickEvent> codec = new AvroCodec<>(ClickEvent.class);
        try (TsvClickReader reader = TsvClickReader.open(input, layout, EventTimeSource.sequence(start, Duration.ofMillis(1)))) {
            for (ParsedLine p; (p = reader.next()) != null; ) {
                ClickEvent e = ((ParsedLine.Accepted) p).event();
                keys.add(ClickProducer.keyOf(e));
                values.add(codec.encode(e));
            }
        }
        long events = keys.size();
        long valueBytes = values.stream().mapToLong(v -> v.length).sum();
        System.out.printf(Locale.ROOT, "input: %,d events, %,d TSV bytes, %,d Avro value bytes (%.0f per event)%n",
                events, Files.size(input), valueBytes, valueBytes / (double) events);

        double[] bare = new double[rounds];
        double[] replay = new double[rounds];
        double[] ratio = new double[rounds];
        double[] bareCpu = new double[rounds];
        double[] replayCpu = new double[rounds];
        try (EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"))) {
            IngestConfig base = IngestConfig.defaults(kafka.bootstrapServers());
            // Warm-up: JIT and broker, one short run of each, not counted.
            runBare(kafka, base, "warm-bare", keys.subList(0, Math.min(keys.size(), 20_000)), values);
            runReplay(kafka, "warm-replay.", sample, start);
            for (int r = 0; r < rounds; r++) {
                long c0 = processCpuNanos();
                bare[r] = runBare(kafka, base, "bare-" + r, keys, values);
                long c1 = processCpuNanos();
                replay[r] = runReplay(kafka, "replay-" + r + ".", input, start);
                long c2 = processCpuNanos();
                ratio[r] = replay[r] / bare[r];
                bareCpu[r] = (c1 - c0) / 1e3 / events;
                replayCpu[r] = (c2 - c1) / 1e3 / events;
                System.out.printf(Locale.ROOT, "round %d: bare %,.0f events/s (%.1f us CPU/event), replay %,.0f events/s (%.1f us CPU/event), ratio %.2f%n",
                        r + 1, bare[r], bareCpu[r], replay[r], replayCpu[r], ratio[r]);
            }
        } finally {
            Files.deleteIfExists(input);
            deleteTree(tmp);
        }
        double bareMedian = median(bare);
        double replayMedian = median(replay);
        double ratioMedian = median(ratio);
        BenchReport report = new BenchReport("mvn -B -o -q -pl bench exec:java -Dexec.mainClass=dev.freshet.bench.ingest.IngestBench "
                + "-Dexec.args=\"--copies " + copies + " --rounds " + rounds + "\"", BenchReport.thisMachine());
        report.add("replay_cli_events_per_s", Math.round(replayMedian), "events/s", true, null)
                .add("bare_producer_events_per_s", Math.round(bareMedian), "events/s", true, null)
                .add("replay_vs_bare_ratio", Math.round(ratioMedian * 1000) / 1000.0, "ratio", true, 0.8)
                .add("replay_cpu_us_per_event", Math.round(median(replayCpu) * 100) / 100.0, "us", false, null)
                .add("bare_cpu_us_per_event", Math.round(median(bareCpu) * 100) / 100.0, "us", false, null)
                .add("events_per_run", events, "events", true, null)
                .add("avro_bytes_per_event", Math.round(valueBytes / (double) events), "bytes", false, null);
        report.write(out);
    }

    /** Sends the pre-encoded records with ClickProducer's settings; events/s from first send to last acknowledgement. */
    private static double runBare(EmbeddedKafka kafka, IngestConfig base, String prefix, List<String> keys, List<byte[]> values) {
        Topics topics = Topics.withPrefix(prefix + ".");
        kafka.createTopic(topics.clicks(), 4);
        AtomicLong failed = new AtomicLong();
        try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(ClickProducer.producerProps(base), new StringSerializer(),
                new ByteArraySerializer())) {
            long t0 = System.nanoTime();
            for (int i = 0; i < keys.size(); i++) {
                producer.send(new ProducerRecord<>(topics.clicks(), keys.get(i), values.get(i)), (m, e) -> {
                    if (e != null) failed.incrementAndGet();
                });
            }
            producer.flush();
            long t1 = System.nanoTime();
            if (failed.get() > 0) throw new IllegalStateException(failed.get() + " bare sends failed");
            return keys.size() * 1e9 / (t1 - t0);
        }
    }

    /** Runs the real CLI command on the file; events/s over the command's own run, producer start-up included. */
    private static double runReplay(EmbeddedKafka kafka, String prefix, Path file, Instant start) throws Exception {
        Topics topics = Topics.withPrefix(prefix);
        kafka.createTopic(topics.clicks(), 4);
        ByteArrayOutputStream outBytes = new ByteArrayOutputStream();
        ByteArrayOutputStream errBytes = new ByteArrayOutputStream();
        ReplayCommand command = new ReplayCommand(new PrintStream(outBytes, true, StandardCharsets.UTF_8),
                new PrintStream(errBytes, true, StandardCharsets.UTF_8), Clock.systemUTC(), ClickProducer::create, false);
        String[] args = {"--bootstrap-servers", kafka.bootstrapServers(), "--set", "topics.prefix=" + prefix,
                "--event-time", "sequence", "--set", "ingest.event-time-start=" + start, file.toString()};
        CommandLine line = CommandLine.parse(args, command.settings(), command.aliases(), Map.of());
        long t0 = System.nanoTime();
        int exit = command.run(line);
        long t1 = System.nanoTime();
        String text = outBytes.toString(StandardCharsets.UTF_8);
        if (exit != 0) {
            throw new IllegalStateException("replay exited " + exit + ":\n" + text + errBytes.toString(StandardCharsets.UTF_8));
        }
        long events = Long.parseLong(text.substring("replayed ".length(), text.indexOf(" events")).replace(",", ""));
        return events * 1e9 / (t1 - t0);
    }

    /** CPU time of the whole process (broker included: it runs in this JVM). */
    private static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    private static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static Map<String, String> flags(String[] args) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                throw new IllegalArgumentException("expected --flag value pairs, got " + String.join(" ", args)
                        + ". Flags: --copies N --rounds N --shared DIR --out FILE");
            }
            m.put(args[i].substring(2), args[++i]);
        }
        return m;
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (var paths = Files.walk(dir)) {
            for (Path p : paths.sorted((x, y) -> y.getNameCount() - x.getNameCount()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
