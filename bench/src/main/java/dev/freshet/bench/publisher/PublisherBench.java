package dev.freshet.bench.publisher;

import dev.freshet.bench.BenchReport;
import dev.freshet.config.ConfigSource;
import dev.freshet.features.FeatureLayout;
import dev.freshet.kafka.EmbeddedKafka;
import dev.freshet.publisher.ModelPublisher;
import dev.freshet.publisher.PublisherConfig;
import dev.freshet.schemas.Topics;
import dev.freshet.serving.ModelSubscriber;
import dev.freshet.serving.ServingConfig;
import dev.freshet.serving.internal.HttpApi;
import dev.freshet.trainer.DenseParameters;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelDelta;
import dev.freshet.trainer.OptimizerKind;
import dev.freshet.trainer.OptimizerSpec;
import dev.freshet.trainer.Precision;
import dev.freshet.trainer.TableSpec;
import dev.freshet.trainer.TrainingProgress;
import dev.freshet.trainer.host.HostModelState;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

/**
 * The model publisher and serving subscriber on the in-process broker:
 * <ul>
 *   <li>DELTA size and time to publish (quality gate, encode, store write, chunked Kafka transaction) for
 *       1k, 100k and 1M touched rows of a 1M-row table, dim 16 and 128;</li>
 *   <li>the subscriber's apply rate (rows/s: assemble chunks, check SHA-256s, decode, copy-on-write pages,
 *       new ONNX Runtime session) and the time from hand-over to the replica serving the version;</li>
 *   <li>{@code POST /predict} latency p50/p99 and requests/s for batches of 1 and 256, one client thread,
 *       on a Criteo-shaped model (26 tables of 100k rows, dim 16, MLPs 512-256-64-16 / 512-256-1).</li>
 * </ul>
 *
 * <pre>
 * mvn -B -o -q -pl bench -am install -DskipTests
 * MAVEN_OPTS=-Xmx8g mvn -B -o -q -pl bench exec:java -Dexec.mainClass=dev.freshet.bench.publisher.PublisherBench
 * </pre>
 * Flags: {@code --out FILE} (default bench/results/publisher.json), {@code --requests N} per batch size.
 */
public final class PublisherBench {
    private static final int TABLE_ROWS = 1_000_000;

    private PublisherBench() {
    }

    public static void main(String[] args) throws Exception {
        Path out = Path.of("bench/results/publisher.json");
        int requests = 2000;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--out" -> out = Path.of(args[++i]);
                case "--requests" -> requests = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown flag " + args[i] + "; allowed --out FILE, --requests N");
            }
        }
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        // The machine is shared: its load at the start goes into the record, so that figures are read with it.
        BenchReport report = new BenchReport("MAVEN_OPTS=-Xmx8g mvn -B -o -q -pl bench exec:java -Dexec.mainClass=" + PublisherBench.class.getName(),
                BenchReport.thisMachine() + ", load average at start " + loadAverage());
        Path work = Files.createTempDirectory("freshet-publisher-bench-");
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            for (int dim : new int[]{16, 128}) {
                deltas(kafka, work.resolve("d" + dim), dim, report);
            }
            predict(kafka, work.resolve("predict"), requests, report);
        } finally {
            deleteTree(work);
        }
        report.write(out);
    }

    private static ModelConfig deltaModel(int dim) {
        return new ModelConfig(List.of(new TableSpec("C1", TABLE_ROWS, dim), new TableSpec("C2", 1000, dim)), 13, dim,
                List.of(64, dim), List.of(128, 64, 1), OptimizerSpec.of(OptimizerKind.ROWWISE_ADAGRAD, 0.05f),
                OptimizerSpec.of(OptimizerKind.ADAGRAD, 0.01f), 1024, 1, Precision.FP32);
    }

    private static void deltas(EmbeddedKafka kafka, Path store, int dim, BenchReport report) throws Exception {
        String name = "bench" + dim;
        Topics topics = Topics.withPrefix(name + "-");
        kafka.createTopic(topics.modelUpdates(), 1);
        ModelConfig config = deltaModel(dim);
        PublisherConfig pc = new PublisherConfig(kafka.bootstrapServers(), topics, store, name, "bench", 900_000, Duration.ofHours(1), 3, 1.0);
        FeatureLayout layout = FeatureLayout.parse(numericColumns(13) + ",C1:categorical:" + TABLE_ROWS + ",C2:categorical:1000", 1);
        Random rnd = new Random(dim);
        long examples = 0;
        try (HostModelState state = HostModelState.allocate(config);
             ModelPublisher publisher = new ModelPublisher(pc, layout, Clock.systemUTC())) {
            publisher.full(state, progress(examples));
            ServingConfig sc = new ServingConfig(kafka.bootstrapServers(), topics, store, name, layout, "127.0.0.1", 0, Duration.ofMillis(5), 4096);
            try (ModelSubscriber subscriber = new ModelSubscriber(sc, Clock.systemUTC())) {
                for (int rows : new int[]{1_000, 100_000, 1_000_000}) {
                    int reps = rows >= 1_000_000 ? 1 : 3;
                    double[] publishMs = new double[reps];
                    double[] visibleMs = new double[reps];
                    double rowsPerSecond = 0;
                    long bytes = 0;
                    long chunks = 0;
                    for (int r = 0; r < reps; r++) {
                        ModelDelta delta = delta(config, rows, rnd, progress(examples += rows));
                        long b0 = publisher.metrics().bytesPublished();
                        long c0 = publisher.metrics().chunksPublished();
                        long applied0 = subscriber.rowsApplied();
                        double apply0 = subscriber.applySeconds();
                        long t0 = System.nanoTime();
                        publisher.delta(delta);
                        long t1 = System.nanoTime();
                        long version = publisher.metrics().lastVersion();
                        while (subscriber.currentVersion() < version) Thread.sleep(1);
                        long t2 = System.nanoTime();
                        publishMs[r] = (t1 - t0) / 1e6;
                        visibleMs[r] = (t2 - t0) / 1e6;
                        bytes = publisher.metrics().bytesPublished() - b0;
                        chunks = publisher.metrics().chunksPublished() - c0;
                        rowsPerSecond = (subscriber.rowsApplied() - applied0) / (subscriber.applySeconds() - apply0);
                    }
                    String tag = label(rows) + " rows, dim " + dim;
                    report.add("delta size, " + tag, bytes / 1e6, "MB", false, null);
                    report.add("delta chunks, " + tag, chunks, "records", false, null);
                    report.add("delta publish time, " + tag, median(publishMs), "ms", false, null);
                    report.add("delta hand-over to served, " + tag, median(visibleMs), "ms", false, rows <= 100_000 && dim == 16 ? 1000.0 : null);
                    report.add("subscriber apply rate, " + tag, rowsPerSecond, "rows/s", true, null);
                    System.out.printf("%s: %.1f MB in %d chunks, publish %.0f ms, served after %.0f ms, apply %.0f rows/s%n",
                            tag, bytes / 1e6, chunks, median(publishMs), median(visibleMs), rowsPerSecond);
                }
                if (subscriber.resyncs() != 0) throw new IllegalStateException("the subscriber resynced " + subscriber.resyncs() + " times during the benchmark");
            }
        }
        deleteTree(store);
    }

    private static ModelDelta delta(ModelConfig config, int rows, Random rnd, TrainingProgress progress) {
        int dim = config.embeddingDim();
        int[] ids = new int[rows];
        int stride = TABLE_ROWS / rows;
        int offset = rnd.nextInt(stride);
        for (int i = 0; i < rows; i++) ids[i] = i * stride + offset;
        float[] values = new float[rows * dim];
        for (int i = 0; i < values.length; i++) values[i] = (float) (rnd.nextGaussian() * 0.01);
        float[] dense = new float[new DenseParameters(config).size()];
        for (int i = 0; i < dense.length; i++) dense[i] = (float) (rnd.nextGaussian() * 0.05);
        return new ModelDelta(config, List.of(new ModelDelta.TableRows(0, ids, values)), dense, progress);
    }

    private static void predict(EmbeddedKafka kafka, Path store, int requests, BenchReport report) throws Exception {
        String name = "predict";
        Topics topics = Topics.withPrefix(name + "-");
        kafka.createTopic(topics.modelUpdates(), 1);
        FeatureLayout layout = FeatureLayout.criteo(100_000);
        ModelConfig config = ModelConfig.from(layout, ConfigSource.of(Map.of("model.embedding-dim", "16",
                "model.bottom-mlp", "512,256,64,16", "model.top-mlp", "512,256,1")));
        PublisherConfig pc = new PublisherConfig(kafka.bootstrapServers(), topics, store, name, "bench", 900_000, Duration.ofHours(1), 3, 1.0);
        try (HostModelState state = HostModelState.initialize(config);
             ModelPublisher publisher = new ModelPublisher(pc, layout, Clock.systemUTC())) {
            publisher.full(state, progress(0));
        }
        ServingConfig sc = new ServingConfig(kafka.bootstrapServers(), topics, store, name, layout, "127.0.0.1", 0, Duration.ofMillis(50), 4096);
        try (ModelSubscriber subscriber = new ModelSubscriber(sc, Clock.systemUTC());
             HttpApi api = new HttpApi(subscriber, "127.0.0.1", 0, 4096, 2)) {
            HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            URI uri = URI.create("http://127.0.0.1:" + api.port() + "/predict");
            Random rnd = new Random(5);
            for (int batch : new int[]{1, 256}) {
                int n = batch == 1 ? requests : Math.max(50, requests / 10);
                List<String> bodies = new ArrayList<>();
                for (int i = 0; i < 64; i++) bodies.add(body(batch, rnd));
                for (int i = 0; i < Math.min(200, n); i++) send(client, uri, bodies.get(i % bodies.size()));
                double[] ms = new double[n];
                long t0 = System.nanoTime();
                for (int i = 0; i < n; i++) {
                    long s = System.nanoTime();
                    send(client, uri, bodies.get(i % bodies.size()));
                    ms[i] = (System.nanoTime() - s) / 1e6;
                }
                double seconds = (System.nanoTime() - t0) / 1e9;
                Arrays.sort(ms);
                report.add("/predict p50, batch " + batch, ms[n / 2], "ms", false, null);
                report.add("/predict p99, batch " + batch, ms[(int) Math.min(n - 1, Math.ceil(n * 0.99) - 1)], "ms", false, null);
                report.add("/predict requests/s, batch " + batch + ", 1 client", n / seconds, "req/s", true, null);
                report.add("/predict events/s, batch " + batch + ", 1 client", n * batch / seconds, "events/s", true, null);
            }
        }
    }

    private static void send(HttpClient client, URI uri, String body) throws IOException, InterruptedException {
        HttpResponse<String> r = client.send(HttpRequest.newBuilder(uri).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200 || r.body().contains("\"reason\"")) {
            throw new IllegalStateException("/predict answered " + r.statusCode() + ": " + r.body());
        }
    }

    private static String body(int batch, Random rnd) {
        StringBuilder sb = new StringBuilder("{\"events\":[");
        for (int b = 0; b < batch; b++) {
            if (b > 0) sb.append(',');
            sb.append("{\"dense\":{");
            for (int i = 1; i <= 13; i++) sb.append(i > 1 ? "," : "").append("\"I").append(i).append("\":").append(rnd.nextInt(100));
            sb.append("},\"categorical\":{");
            for (int i = 1; i <= 26; i++) sb.append(i > 1 ? "," : "").append("\"C").append(i).append("\":\"").append(Integer.toHexString(rnd.nextInt())).append('"');
            sb.append("}}");
        }
        return sb.append("]}").toString();
    }

    private static String numericColumns(int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i <= n; i++) sb.append(i > 1 ? "," : "").append("I").append(i).append(":count");
        return sb.toString();
    }

    private static TrainingProgress progress(long examples) {
        return new TrainingProgress(Map.of("features-0", examples), examples, Map.of("auc", 0.75), System.currentTimeMillis());
    }

    private static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " / " + f[1] + " / " + f[2] + " (1/5/15 min)";
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }

    private static String label(int rows) {
        return rows >= 1_000_000 ? rows / 1_000_000 + "M" : rows / 1000 + "k";
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
