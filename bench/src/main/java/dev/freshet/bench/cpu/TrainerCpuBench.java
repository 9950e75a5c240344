package dev.freshet.bench.cpu;

import dev.freshet.bench.BenchReport;
import dev.freshet.config.ConfigSource;
import dev.freshet.features.Examples;
import dev.freshet.features.FeatureLayout;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.OptimizerKind;
import dev.freshet.trainer.Precision;
import dev.freshet.trainer.cpu.CpuBackend;
import dev.freshet.trainer.host.HostMemory;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Training throughput of the CPU backend ({@link CpuBackend}) on this machine, batch 2048, fp32, and
 * the memory it holds (heap and off-heap), for two models:
 * <ul>
 *   <li>{@code default}: the model of the default settings ({@code ModelConfig.from(criteo layout,
 *       defaults)}: 26 tables of 100,000 rows, dim 16, bottom MLP 64-16, top MLP 128-64-1, row-wise
 *       Adagrad + Adagrad);</li>
 *   <li>{@code kaggle16}: {@code ModelConfig.kaggle("kaggle16", ...)}, the facebookresearch/dlrm Kaggle
 *       model (33,762,577 rows, dim 16, bottom 512-256-64-16, top 512-256-1), SGD on both, as the
 *       PyTorch peer ({@code ../shared/bench/torch_dlrm_peer.py}) runs it.</li>
 * </ul>
 * Synthetic data exactly as the peer describes: per table {@code rank = floor(exp(u ln(rows + 1))) - 1},
 * {@code row = rank * 2654435761 mod rows} (u ~ U[0,1)), dense {@code log1p(100 u)}, label Bernoulli(0.25);
 * 8 batches in rotation, warm-up steps, then timed steps. Besides samples/s (wall clock) it reports
 * samples per CPU-second of the process, which stays meaningful on a machine shared with other work.
 * Run alone (it uses every core):
 * <pre>
 * mvn -B -o -q -pl bench exec:java -Dexec.mainClass=dev.freshet.bench.cpu.TrainerCpuBench [-Dexec.args="steps=5 threads=2"]
 * </pre>
 * (kaggle16 needs ~2.3 GB of direct memory: by default the JVM allows as much as its maximum heap.)
 */
public final class TrainerCpuBench {
    private static final int ROTATION = 8;

    private TrainerCpuBench() {
    }

    public static void main(String[] args) {
        Map<String, String> a = new HashMap<>();
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (eq < 0) throw new IllegalArgumentException("argument '" + arg + "' must be key=value (configs, batch, steps, warmup, threads, out)");
            a.put(arg.substring(0, eq), arg.substring(eq + 1));
        }
        List<String> configs = List.of(a.getOrDefault("configs", "default,kaggle16").split(","));
        int batch = Integer.parseInt(a.getOrDefault("batch", "2048"));
        int warmup = Integer.parseInt(a.getOrDefault("warmup", "3"));
        int threads = Integer.parseInt(a.getOrDefault("threads", "0"));
        Path out = Path.of(a.getOrDefault("out", "bench/results/trainer-cpu.json"));
        String command = "mvn -B -o -q -pl bench exec:java -Dexec.mainClass=dev.freshet.bench.cpu.TrainerCpuBench"
                + (args.length == 0 ? "" : " -Dexec.args=\"" + String.join(" ", args) + "\"");
        // the load average says how much of the machine the run had (samples/cpu-s is the load-independent figure)
        BenchReport report = new BenchReport(command, BenchReport.thisMachine() + ", max heap "
                + (Runtime.getRuntime().maxMemory() >> 20) + " MiB, max direct " + (HostMemory.maxDirectMemory() >> 20)
                + " MiB, load average at start " + String.format(Locale.ROOT, "%.1f",
                ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage()));
        for (String name : configs) {
            ModelConfig config = config(name, batch);
            int steps = Integer.parseInt(a.getOrDefault("steps", name.equals("kaggle16") ? "6" : "20"));
            run(name, config, batch, warmup, steps, threads, report);
        }
        report.write(out);
    }

    static ModelConfig config(String name, int batch) {
        return switch (name) {
            case "default" -> ModelConfig.from(FeatureLayout.criteo(100_000), ConfigSource.empty()).withBatchSize(batch);
            case "kaggle16", "kaggle128" -> ModelConfig.kaggle(name, batch, OptimizerKind.SGD, Precision.FP32);
            default -> throw new IllegalArgumentException("unknown config '" + name + "'; allowed default|kaggle16|kaggle128");
        };
    }

    private static void run(String name, ModelConfig config, int batch, int warmup, int steps, int threads, BenchReport report) {
        long initStart = System.nanoTime();
        try (CpuBackend backend = CpuBackend.create(config, threads)) {
            double initSeconds = (System.nanoTime() - initStart) / 1e9;
            Examples[] batches = PeerData.batches(config, batch, ROTATION, 1);
            float[] probabilities = new float[batch];
            for (int i = 0; i < warmup; i++) backend.train(batches[i % ROTATION], probabilities);
            long cpuStart = processCpuNanos();
            long start = System.nanoTime();
            double loss = 0;
            for (int i = 0; i < steps; i++) loss = backend.train(batches[(warmup + i) % ROTATION], probabilities).loss();
            double seconds = (System.nanoTime() - start) / 1e9;
            double cpuSeconds = (processCpuNanos() - cpuStart) / 1e9;
            double samplesPerSecond = (double) batch * steps / seconds;

            System.gc();
            var heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
            long offHeap = HostMemory.usedDirectMemory();
            String prefix = "cpu " + name + " batch " + batch + " fp32 (" + backend.description() + ")";
            report.add(prefix + " samples/s", samplesPerSecond, "samples/s", true, null);
            report.add(prefix + " step time", seconds / steps * 1000, "ms", false, null);
            // CPU time is what the step costs whatever else runs on the machine: samples per CPU-second
            report.add(prefix + " samples per cpu-second", batch * steps / cpuSeconds, "samples/cpu-s", true, null);
            report.add(prefix + " heap used", heap.getUsed() / (double) (1 << 20), "MiB", false, null);
            report.add(prefix + " off-heap (direct) used", offHeap / (double) (1 << 20), "MiB", false, null);
            report.add(prefix + " initialisation", initSeconds, "s", false, null);
            System.out.printf(Locale.ROOT, "%s: %.0f samples/s over %d steps after %d warm-up, last loss %.4f%n",
                    prefix, samplesPerSecond, steps, warmup, loss);
        }
    }

    private static long processCpuNanos() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getProcessCpuTime();
        }
        return -1;
    }
}
