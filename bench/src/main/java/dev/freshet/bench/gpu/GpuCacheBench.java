package dev.freshet.bench.gpu;

import dev.freshet.features.Examples;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.OptimizerKind;
import dev.freshet.trainer.Precision;
import dev.freshet.trainer.TableSpec;
import dev.freshet.trainer.cuda.CudaBackend;
import dev.freshet.trainer.cuda.CudaOptions;
import dev.freshet.trainer.cuda.internal.CudaContext;
import dev.freshet.trainer.cuda.internal.CudaEvent;
import dev.freshet.trainer.cuda.internal.CudaStream;
import dev.freshet.trainer.cuda.internal.DeviceModel;
import dev.freshet.trainer.cuda.internal.DlrmKernels;
import dev.freshet.trainer.cuda.internal.GpuEmbeddingCache;

import java.util.Locale;

/**
 * Diagnostics for TrainerGpuBench's cache figures, on the peer's data with 2% of the rows cached: the
 * cache's planning alone (GPU time of each stage of one plan, after a warm-up that fills the cache), then
 * bf16 training through the trainer's API without a cache, with it, and with it but without lookahead
 * overlap (host time in prefetch() and train() per step). Prints one line per measurement.
 *
 * <pre>java -cp ... dev.freshet.bench.gpu.GpuCacheBench [--configs kaggle128,kaggle16] [--batches 2048,65536] [--transfer auto|bus|copy] [--no-plans | --overlap]</pre>
 * ({@code --no-plans}: only the training loops; {@code --overlap}: only a step and a plan, alone and side by side;
 * {@code --transfer}: how the cache moves rows, trainer.cuda.cache-transfer, default auto)
 */
public final class GpuCacheBench {
    private GpuCacheBench() {
    }

    public static void main(String[] args) {
        String configs = "kaggle128,kaggle16";
        int[] batches = {2048, 65536};
        boolean plans = true, overlap = false;
        CudaOptions.CacheTransfer transfer = CudaOptions.CacheTransfer.AUTO;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--configs" -> configs = value(args, ++i);
                case "--batches" -> batches = java.util.Arrays.stream(value(args, ++i).split(",")).mapToInt(Integer::parseInt).toArray();
                case "--no-plans" -> plans = false;
                case "--overlap" -> overlap = true;
                case "--transfer" -> transfer = CudaOptions.CACHE_TRANSFER.parse(value(args, ++i));
                default -> throw new IllegalArgumentException("unknown argument " + args[i]
                        + "; usage: GpuCacheBench [--configs kaggle128,kaggle16] [--batches 2048,65536] [--transfer auto|bus|copy]"
                        + " [--no-plans | --overlap]");
            }
        }
        try (CudaContext ctx = new CudaContext(0)) {
            if (overlap) {
                for (String name : configs.split(",")) {
                    for (int batch : batches) overlap(name, batch, transfer);
                }
                return;
            }
            if (plans) {
                for (String name : configs.split(",")) {
                    for (int batch : batches) run(name, batch, transfer);
                }
            }
            CudaOptions cached = CudaOptions.defaults().withCacheTransfer(transfer);
            for (String name : configs.split(",")) {
                for (int batch : batches) {
                    trainLoop(name, batch, CudaOptions.defaults());
                    trainLoop(name, batch, cached.withCacheFraction(0.02));
                    trainLoop(name, batch, cached.withCacheFraction(0.02).withOverlapSwaps(false));
                    trainLoop(name, batch, cached.withCacheFraction(0.02).withGraphs(false));
                }
            }
            // every row cached after the first pass over 4 batches: what the cache costs without any swap
            if (plans && configs.contains("kaggle16")) {
                trainLoop("kaggle16", 65536, CudaOptions.defaults(), 4);
                trainLoop("kaggle16", 65536, cached.withCacheFraction(1.0), 4);
                trainLoop("kaggle16", 65536, cached.withCacheFraction(1.0).withOverlapSwaps(false), 4);
            }
        }
    }

    /**
     * A training step and a cache plan, each alone and then queued side by side on their two streams: GPU
     * time of each step stage and each plan stage, to see what running together costs each of them. The
     * step reads random slots (its values do not matter here); the plans use the peer's batches.
     */
    private static void overlap(String name, int batch, CudaOptions.CacheTransfer transfer) {
        ModelConfig config = ModelConfig.kaggle(name, batch, OptimizerKind.SGD, Precision.BF16);
        long[] rows = config.tables().stream().mapToLong(TableSpec::rows).toArray();
        int capacity = (int) Math.ceil(0.02 * config.totalRows());
        int lookups = batch * config.numTables();
        Examples[] data = TrainerGpuBench.batches(name, batch, 40, 3);
        try (DlrmKernels k = new DlrmKernels(); DeviceModel model = new DeviceModel(config, k, capacity, batch);
             GpuEmbeddingCache cache = new GpuEmbeddingCache(k, model, rows, capacity, 200, false, transfer);
             CudaStream compute = new CudaStream("compute")) {
            int[] slots = new java.util.SplittableRandom(batch).ints(lookups, 0, capacity).toArray();
            jcuda.driver.JCudaDriver.cuMemcpyHtoD(model.deviceIds().ptr(), jcuda.Pointer.to(slots), 4L * lookups);
            model.deviceTableOffset().fill32(0, config.numTables(), compute);
            model.deviceDenseIn().fill32(0, model.deviceDenseIn().bytes() / 4, compute);
            model.deviceLabels().fill32(0, model.deviceLabels().bytes() / 4, compute);
            long[] ticket = {0};
            for (int i = 0; i < 40; i++) cache.profile(data[i % data.length].sparse, batch, ++ticket[0], ticket[0]);
            for (int i = 0; i < 5; i++) model.queueStep(batch, compute);
            compute.synchronize();
            int reps = 10;
            java.util.Map<String, Double> stepAlone = new java.util.LinkedHashMap<>(), stepBeside = new java.util.LinkedHashMap<>(),
                    stepBesideHits = new java.util.LinkedHashMap<>();
            double[] planAlone = new double[cache.stages().size()], planBeside = new double[planAlone.length],
                    planHits = new double[planAlone.length];
            int[] next = {40};
            for (int r = 0; r < reps; r++) {
                timedStep(model, compute, batch, stepAlone, null);
                add(planAlone, cache.profile(data[next[0]++ % data.length].sparse, batch, ++ticket[0], ticket[0]));
                timedStep(model, compute, batch, stepBeside,
                        () -> add(planBeside, cache.profile(data[next[0]++ % data.length].sparse, batch, ++ticket[0], ticket[0])));
                // the batch just planned again: every row is cached, the swap moves nothing
                int again = (next[0] - 1) % data.length;
                timedStep(model, compute, batch, stepBesideHits,
                        () -> add(planHits, cache.profile(data[again].sparse, batch, ++ticket[0], ticket[0])));
            }
            System.out.printf(Locale.ROOT, "%s bf16 batch %d, cache %d rows, transfer %s, GPU ms (mean of %d):%n", name, batch, capacity,
                    mode(cache), reps);
            System.out.println("  step alone            " + stages(stepAlone, reps));
            System.out.println("  step beside a plan    " + stages(stepBeside, reps));
            System.out.println("  step beside all-hits  " + stages(stepBesideHits, reps));
            System.out.println("  plan alone            " + planStages(cache, planAlone, reps));
            System.out.println("  plan beside a step    " + planStages(cache, planBeside, reps));
            System.out.println("  all-hit plan beside   " + planStages(cache, planHits, reps));
        }
    }

    private static void timedStep(DeviceModel model, CudaStream s, int batch, java.util.Map<String, Double> sum, Runnable beside) {
        java.util.List<CudaEvent> events = new java.util.ArrayList<>();
        java.util.List<String> names = new java.util.ArrayList<>();
        CudaEvent start = new CudaEvent("step start", true);
        try {
            start.record(s);
            model.queueStep(batch, s, stage -> {
                CudaEvent e = new CudaEvent("after " + stage, true);
                e.record(s);
                events.add(e);
                names.add(stage);
            });
            if (beside != null) beside.run();
            s.synchronize();
            CudaEvent previous = start;
            for (int i = 0; i < events.size(); i++) {
                sum.merge(names.get(i), (double) events.get(i).millisSince(previous), Double::sum);
                previous = events.get(i);
            }
            sum.merge("total", (double) previous.millisSince(start), Double::sum);
        } finally {
            start.close();
            events.forEach(CudaEvent::close);
        }
    }

    private static void add(double[] sum, double[] ms) {
        for (int i = 0; i < sum.length; i++) sum[i] += ms[i];
    }

    private static String stages(java.util.Map<String, Double> sum, int reps) {
        StringBuilder b = new StringBuilder();
        sum.forEach((stage, ms) -> b.append(String.format(Locale.ROOT, "| %s %.3f ", stage, ms / reps)));
        return b.toString();
    }

    private static String mode(GpuEmbeddingCache cache) {
        return cache.transfer().name().toLowerCase(Locale.ROOT);
    }

    private static String planStages(GpuEmbeddingCache cache, double[] sum, int reps) {
        StringBuilder b = new StringBuilder();
        double total = 0;
        for (int i = 0; i < sum.length; i++) {
            b.append(String.format(Locale.ROOT, "| %s %.3f ", cache.stages().get(i), sum[i] / reps));
            total += sum[i];
        }
        return b.append(String.format(Locale.ROOT, "| total %.3f", total / reps)).toString();
    }

    private static String value(String[] args, int i) {
        if (i >= args.length) throw new IllegalArgumentException(args[i - 1] + " needs a value");
        return args[i];
    }

    /** Host time in prefetch() and train() (which includes waiting for the GPU) through the trainer's API. */
    private static void trainLoop(String name, int batch, CudaOptions options) {
        trainLoop(name, batch, options, 40);
    }

    private static void trainLoop(String name, int batch, CudaOptions options, int distinct) {
        ModelConfig config = ModelConfig.kaggle(name, batch, OptimizerKind.SGD, Precision.BF16);
        Examples[] data = TrainerGpuBench.batches(name, batch, distinct, 3);
        try (CudaBackend b = CudaBackend.createUninitialisedHost(config, options)) {
            float[] probs = new float[batch];
            long inPrefetch = 0, inTrain = 0;
            int warm = 10, steps = 28;
            long t0 = 0;
            for (int i = 0; i < warm + steps; i++) {
                if (i == warm) {
                    inPrefetch = 0;
                    inTrain = 0;
                    t0 = System.nanoTime();
                }
                long a = System.nanoTime();
                b.prefetch(data[(i + 1) % data.length]);
                long c = System.nanoTime();
                b.train(data[i % data.length], probs);
                long d = System.nanoTime();
                inPrefetch += c - a;
                inTrain += d - c;
            }
            double wall = (System.nanoTime() - t0) / 1e6 / steps;
            String transfer = b.cacheTransfer() == null ? "" : " transfer " + b.cacheTransfer().name().toLowerCase(Locale.ROOT);
            System.out.printf(Locale.ROOT, "%s bf16 batch %d (%d batches) cache %.2f%s overlap %s graph %s: %.2f ms/step (%,.0f samples/s), prefetch %.2f ms, train %.2f ms, hit rate %.4f, planned on demand %d of %d%n",
                    name, batch, distinct, options.cacheFraction(), transfer, options.overlapSwaps(), options.graphs(), wall, batch / (wall / 1e3),
                    inPrefetch / 1e6 / steps, inTrain / 1e6 / steps, b.cacheHitRate(), b.cachePlansOnDemand(), warm + steps);
        }
    }

    private static void run(String name, int batch, CudaOptions.CacheTransfer transfer) {
        ModelConfig config = ModelConfig.kaggle(name, batch, OptimizerKind.SGD, Precision.FP32);
        long[] rows = config.tables().stream().mapToLong(TableSpec::rows).toArray();
        int capacity = (int) Math.ceil(0.02 * config.totalRows());
        Examples[] data = TrainerGpuBench.batches(name, batch, 8, 1);
        try (DlrmKernels k = new DlrmKernels(); DeviceModel model = new DeviceModel(config, k, capacity, batch);
             GpuEmbeddingCache cache = new GpuEmbeddingCache(k, model, rows, capacity, 200, false, transfer)) {
            long ticket = 0;
            for (int i = 0; i < 40; i++) {
                ticket++;
                cache.profile(data[i % data.length].sparse, batch, ticket, ticket);
            }
            cache.resetStats();
            double[] sum = new double[cache.stages().size()];
            int plans = 20;
            long host = 0;
            for (int i = 0; i < plans; i++) {
                ticket++;
                long t0 = System.nanoTime();
                double[] ms = cache.profile(data[i % data.length].sparse, batch, ticket, ticket);
                host += System.nanoTime() - t0;
                for (int s = 0; s < sum.length; s++) sum[s] += ms[s];
            }
            StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "%s batch %d cache %d rows, transfer %s: hit rate %.4f, plan wall %.2f ms |",
                    name, batch, capacity, mode(cache), cache.hitRate(), host / 1e6 / plans));
            for (int s = 0; s < sum.length; s++) {
                line.append(String.format(Locale.ROOT, " %s %.3f ms |", cache.stages().get(s), sum[s] / plans));
            }
            line.append(String.format(Locale.ROOT, " rows loaded per plan %.0f", cache.misses() / (double) plans));
            System.out.println(line);
        }
    }
}
