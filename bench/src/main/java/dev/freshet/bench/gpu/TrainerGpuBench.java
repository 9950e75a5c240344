package dev.freshet.bench.gpu;

import dev.freshet.bench.BenchReport;
import dev.freshet.bench.cpu.PeerData;
import dev.freshet.features.Examples;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.OptimizerKind;
import dev.freshet.trainer.Precision;
import dev.freshet.trainer.cuda.CudaBackend;
import dev.freshet.trainer.cuda.CudaOptions;
import dev.freshet.trainer.cuda.internal.CudaEvent;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;

/**
 * Training throughput of the CUDA backend on one GPU against the PyTorch peer
 * (../shared/bench/torch_dlrm_peer.py), on the same synthetic data:
 * <pre>
 *   tables  Criteo Kaggle cardinalities (FeatureLayout.KAGGLE_ROWS), one row per table and example
 *   index   rank = floor(exp(u ln(rows + 1))) - 1, u ~ U[0,1) (log-uniform, ~Zipf(1)); row = rank * 2654435761 mod rows
 *   dense   log1p(100 u), 13 per example        label  Bernoulli(0.25)
 * </pre>
 * Three measurements per config, batch and precision:
 * <ol>
 *   <li>resident: batches already on the GPU, steps queued back to back, as the peer times itself
 *       (8 batches in rotation, 10 warm-up steps, then 3,000 timed steps at batch 2048, 1,200 at 16384, 400 at
 *       65536, each case about 1.5-10 s);</li>
 *   <li>the trainer's API path ({@code train(Examples)}: host batch in, probabilities and loss out,
 *       one synchronisation per step) on fresh batches;</li>
 *   <li>the same with the GPU embedding cache holding a fraction of the rows and the tables in
 *       pinned host memory, with lookahead prefetch of the next batch; hit rate alongside. The cache moves
 *       rows as {@code --cache-transfer auto|bus|copy} says (trainer.cuda.cache-transfer, default auto). Before
 *       the first case, one unmeasured copy-mode cache run warms the host threads' path (see
 *       warmUpCacheHostPath).</li>
 * </ol>
 * Run on the GPU machine by bench/device/run-gpu.sh, which runs the peer first and passes its output
 * with --peer. Options (each {@code --name value}): configs, batches, dtypes, optimizers, cache-fraction,
 * api-path, steps, out, peer, command, and layers ({@code true}: the step breakdown times each MLP layer).
 */
public final class TrainerGpuBench {
    private static final int ROTATION = 8;
    private static final int WARMUP = 10;

    private TrainerGpuBench() {
    }

    public static void main(String[] args) throws IOException {
        Map<String, String> a = parse(args);
        List<String> configs = List.of(a.getOrDefault("configs", "kaggle128,kaggle16").split(","));
        List<Integer> batches = IntStream.of(ints(a.getOrDefault("batches", "2048,16384,65536"))).boxed().toList();
        List<String> dtypes = List.of(a.getOrDefault("dtypes", "fp32,bf16").split(","));
        List<String> optimizers = List.of(a.getOrDefault("optimizers", "sgd,rowwise_adagrad").split(","));
        double cacheFraction = Double.parseDouble(a.getOrDefault("cache-fraction", "0.02"));
        CudaOptions.CacheTransfer cacheTransfer = CudaOptions.CACHE_TRANSFER.parse(a.getOrDefault("cache-transfer", "auto"));
        boolean apiPath = Boolean.parseBoolean(a.getOrDefault("api-path", "true"));
        int fixedSteps = Integer.parseInt(a.getOrDefault("steps", "0"));
        boolean perLayer = Boolean.parseBoolean(a.getOrDefault("layers", "false"));
        Path out = Path.of(a.getOrDefault("out", "bench/results/trainer-gpu.json"));
        Map<String, Double> peer = a.containsKey("peer") ? readPeer(Path.of(a.get("peer"))) : Map.of();

        var probe = CudaBackend.probe(0);
        if (!probe.available()) {
            System.err.println("trainer-gpu benchmark: " + probe.reason() + "; it needs an NVIDIA GPU");
            System.exit(2);
        }
        String machine = probe.deviceName() + " (" + (probe.totalBytes() >> 30) + " GiB), " + BenchReport.thisMachine();
        BenchReport report = new BenchReport(a.getOrDefault("command", "bench/device/run-gpu.sh"), machine);
        System.out.println("gpu " + probe.deviceName() + "; peer figures read: " + peer.size());
        if (cacheFraction > 0) warmUpCacheHostPath(configs.get(0), cacheFraction);

        for (String config : configs) {
            for (int batch : batches) {
                // Windows of 1.5-10 s a case: over 300 steps of 2048 (0.17 s, the default until session 8) the GPU cache's ratio
                // read 0.909 where 3,000 and 6,000 steps read 0.883-0.899 in six processes (bench/device/NOTES.md, runs 86-87)
                int steps = fixedSteps > 0 ? fixedSteps : (batch >= 65536 ? 400 : batch >= 16384 ? 1200 : 3000);
                Examples[] rotation = batches(config, batch, ROTATION, 1);
                Examples[] fresh = apiPath || cacheFraction > 0 ? batches(config, batch, WARMUP + steps + 1, 2) : null;
                for (String dtype : dtypes) {
                    Precision precision = dtype.equals("bf16") ? Precision.BF16 : Precision.FP32;
                    String key = "config=" + config + " batch=" + batch + " dtype=" + dtype;
                    Double peerSps = peer.get(key);
                    double sgdResident = Double.NaN;
                    for (String opt : optimizers) {
                        OptimizerKind kind = opt.equals("sgd") ? OptimizerKind.SGD : OptimizerKind.ROWWISE_ADAGRAD;
                        ModelConfig model = ModelConfig.kaggle(config, batch, kind, precision);
                        String name = config + " batch " + batch + " " + dtype + " emb " + opt;
                        double sps = resident(model, rotation, steps, name, perLayer);
                        report.add(name + " resident samples/s", Math.round(sps), "samples/s", true, null);
                        if (kind == OptimizerKind.SGD) {
                            sgdResident = sps;
                            if (peerSps != null) {
                                report.add(name + " peer samples/s", Math.round(peerSps), "samples/s", true, null);
                                Double target = batch == 2048 ? Double.valueOf(3.0) : batch == 65536 ? Double.valueOf(1.5) : null;
                                report.add(name + " speed-up vs peer", round3(sps / peerSps), "x", true, target);
                            }
                        }
                        if (apiPath && kind == OptimizerKind.ROWWISE_ADAGRAD) {
                            double api = apiPath(model, CudaOptions.defaults(), fresh, steps, name + " api-path", null);
                            report.add(name + " api-path samples/s", Math.round(api), "samples/s", true, null);
                        }
                    }
                    if (cacheFraction > 0) {
                        ModelConfig model = ModelConfig.kaggle(config, batch, OptimizerKind.SGD, precision);
                        String name = config + " batch " + batch + " " + dtype + " emb sgd cache " + pct(cacheFraction);
                        double[] hit = {Double.NaN};
                        double all = apiPath(model, CudaOptions.defaults(), fresh, steps, name + " (all rows on GPU, api-path)", null);
                        double cached = apiPath(model, CudaOptions.defaults().withCacheFraction(cacheFraction).withCacheTransfer(cacheTransfer),
                                fresh, steps, name, hit);
                        report.add(name + " samples/s", Math.round(cached), "samples/s", true, null);
                        report.add(name + " hit rate", round3(hit[0]), "fraction", true, null);
                        report.add(name + " vs all-on-GPU api-path", round3(cached / all), "ratio", true, 0.9);
                        if (!Double.isNaN(sgdResident)) {
                            report.add(name + " vs all-on-GPU resident", round3(cached / sgdResident), "ratio", true, 0.9);
                        }
                    }
                }
            }
        }
        report.write(out);
    }

    /**
     * Runs the copy-mode cache once, unmeasured, before any case: the first cache in the process that moves rows
     * through host threads paid a one-off cost of ~0.1-0.2 s in its first timed steps (the JIT compiling the row
     * copies, the threads starting), enough to read 0.22-0.39 (kaggle16 16384 bf16) or 0.75 (kaggle128 16384 fp32)
     * for whichever case came first, against 0.89-0.98 for the same cases later in a process (bench/device/NOTES.md,
     * session 5). A trainer pays it once at start-up; the figures are for steady training.
     */
    private static void warmUpCacheHostPath(String config, double cacheFraction) {
        int batch = 16384, steps = 60;
        ModelConfig model = ModelConfig.kaggle(config, batch, OptimizerKind.SGD, Precision.BF16);
        apiPath(model, CudaOptions.defaults().withCacheFraction(cacheFraction).withCacheTransfer(CudaOptions.CacheTransfer.COPY),
                batches(config, batch, WARMUP + steps + 1, 3), steps, "warm-up, not measured: " + config + " batch " + batch
                        + " bf16 cache " + pct(cacheFraction) + " copy", null);
    }

    /** Steps on batches held on the GPU, queued back to back; wall time over the timed steps after a sync. */
    private static double resident(ModelConfig model, Examples[] rotation, int steps, String name, boolean perLayer) {
        try (CudaBackend b = CudaBackend.createUninitialisedHost(model, CudaOptions.defaults())) {
            List<CudaBackend.ResidentBatch> on = new ArrayList<>();
            try {
                for (Examples e : rotation) on.add(b.upload(e));
                for (int i = 0; i < WARMUP; i++) b.trainAsync(on.get(i % on.size()));
                double warmLoss = b.finish();
                CudaEvent start = b.recordEvent("start");
                long t0 = System.nanoTime();
                for (int i = 0; i < steps; i++) b.trainAsync(on.get(i % on.size()));
                CudaEvent end = b.recordEvent("end");
                double loss = b.finish();
                long t1 = System.nanoTime();
                float gpuMs = end.millisSince(start);
                start.close();
                end.close();
                StringBuilder breakdown = new StringBuilder();
                b.profileStep(on.get(0), perLayer).forEach((stage, ms) -> breakdown.append(String.format(Locale.ROOT, " | %s %.3f", stage, ms)));
                System.out.println("  step breakdown (ms, no graph" + (perLayer ? ", MLP layer by layer" : "") + ")" + breakdown);
                double sps = (double) model.batchSize() * steps / ((t1 - t0) / 1e9);
                System.out.printf(Locale.ROOT, "%-48s resident %,12.0f samples/s  (%.3f ms/step GPU)  loss %.4f -> %.4f  gpu used %s (model+workspace %s)  host rss %s%n",
                        name, sps, gpuMs / steps, warmLoss, loss, gib(b.deviceUsedBytes()), gib(b.deviceBytes()), gib(rssBytes()));
                return sps;
            } finally {
                for (CudaBackend.ResidentBatch r : on) r.close();
            }
        }
    }

    /** Steps through train(Examples) with the next batch prefetched; fresh batches, one sync per step. */
    private static double apiPath(ModelConfig model, CudaOptions options, Examples[] fresh, int steps, String name,
                                  double[] hitRate) {
        long c0 = System.nanoTime();
        try (CudaBackend b = CudaBackend.createUninitialisedHost(model, options)) {
            long c1 = System.nanoTime();
            float[] probs = new float[model.batchSize()];
            double first = 0;
            for (int i = 0; i < WARMUP; i++) {
                b.prefetch(fresh[i + 1]);
                double l = b.train(fresh[i], probs).loss();
                if (i == 0) first = l;
            }
            b.resetCacheStats();
            long t0 = System.nanoTime();
            double loss = 0;
            // From 1,000 steps on, the rate of each tenth too: whether a figure drifts over a long window
            int tenth = steps >= 1000 ? steps / 10 : 0;
            StringBuilder tenths = new StringBuilder();
            long mark = t0;
            for (int i = WARMUP; i < WARMUP + steps; i++) {
                b.prefetch(fresh[i + 1]);
                loss = b.train(fresh[i], probs).loss();
                if (tenth > 0 && (i - WARMUP + 1) % tenth == 0) {
                    long now = System.nanoTime();
                    tenths.append(String.format(Locale.ROOT, " %,.0f", (double) model.batchSize() * tenth / ((now - mark) / 1e9)));
                    mark = now;
                }
            }
            long t1 = System.nanoTime();
            if (tenth > 0) System.out.println("  samples/s by tenth of the timed steps:" + tenths);
            double sps = (double) model.batchSize() * steps / ((t1 - t0) / 1e9);
            if (hitRate != null) {
                hitRate[0] = b.cacheHitRate();
                System.out.println("  cache (transfer " + b.cacheTransfer().name().toLowerCase(Locale.ROOT) + "): " + b.cacheTimings());
            }
            System.out.printf(Locale.ROOT, "%-48s %,12.0f samples/s  loss %.4f -> %.4f  hit rate %.4f  gpu used %s (model+workspace %s)  pinned host %s  host rss %s  setup %.1f s%n",
                    name, sps, first, loss, b.cacheHitRate(), gib(b.deviceUsedBytes()), gib(b.deviceBytes()),
                    gib(b.pinnedHostBytes()), gib(rssBytes()), (c1 - c0) / 1e9);
            return sps;
        }
    }

    /** {@code count} batches generated exactly as torch_dlrm_peer.py does (its formulas; Java's random stream). */
    /** The peer's data ({@link PeerData}) for the Kaggle model named {@code config}. */
    static Examples[] batches(String config, int batch, int count, long seed) {
        return PeerData.batches(ModelConfig.kaggle(config, batch, OptimizerKind.SGD, Precision.FP32), batch, count, seed);
    }

    private static Map<String, Double> readPeer(Path file) throws IOException {
        Map<String, Double> m = new HashMap<>();
        Pattern p = Pattern.compile("peer (config=\\S+ batch=\\d+ dtype=\\S+) samples_per_s=(\\d+)");
        for (String line : Files.readAllLines(file)) {
            Matcher x = p.matcher(line);
            if (x.find()) m.put(x.group(1), Double.parseDouble(x.group(2)));
        }
        return m;
    }

    private static Map<String, String> parse(String[] args) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                throw new IllegalArgumentException("arguments are --name value pairs; got '" + args[i] + "'");
            }
            m.put(args[i].substring(2), args[++i]);
        }
        return m;
    }

    private static int[] ints(String s) {
        return java.util.Arrays.stream(s.split(",")).mapToInt(Integer::parseInt).toArray();
    }

    private static double round3(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    private static String pct(double f) {
        return String.format(Locale.ROOT, "%.0f%%", f * 100);
    }

    private static String gib(long bytes) {
        return String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
    }

    /** Resident set size of this process (Linux), or -1. */
    static long rssBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }
}
