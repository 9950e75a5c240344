package dev.freshet.bench.gpu;

import dev.freshet.features.Examples;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.OptimizerKind;
import dev.freshet.trainer.Precision;
import dev.freshet.trainer.TableSpec;
import dev.freshet.trainer.cuda.CudaBackend;
import dev.freshet.trainer.cuda.CudaOptions;
import dev.freshet.trainer.cuda.internal.CudaContext;
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
 * <pre>java -cp ... dev.freshet.bench.gpu.GpuCacheBench [--configs kaggle128,kaggle16] [--batches 2048,65536]</pre>
 */
public final class GpuCacheBench {
    private GpuCacheBench() {
    }

    public static void main(String[] args) {
        String configs = args.length > 1 && args[0].equals("--configs") ? args[1] : "kaggle128,kaggle16";
        int[] batches = {2048, 65536};
        try (CudaContext ctx = new CudaContext(0)) {
            for (String name : configs.split(",")) {
                for (int batch : batches) run(name, batch);
            }
            for (String name : configs.split(",")) {
                for (int batch : batches) {
                    trainLoop(name, batch, CudaOptions.defaults());
                    trainLoop(name, batch, CudaOptions.defaults().withCacheFraction(0.02));
                    trainLoop(name, batch, CudaOptions.defaults().withCacheFraction(0.02).withOverlapSwaps(false));
                }
            }
            // every row cached after the first pass over 4 batches: what the cache costs without any swap
            if (configs.contains("kaggle16")) {
                trainLoop("kaggle16", 65536, CudaOptions.defaults(), 4);
                trainLoop("kaggle16", 65536, CudaOptions.defaults().withCacheFraction(1.0), 4);
                trainLoop("kaggle16", 65536, CudaOptions.defaults().withCacheFraction(1.0).withOverlapSwaps(false), 4);
            }
        }
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
            System.out.printf(Locale.ROOT, "%s bf16 batch %d (%d batches) cache %.2f overlap %s: %.2f ms/step (%,.0f samples/s), prefetch %.2f ms, train %.2f ms, hit rate %.4f%n",
                    name, batch, distinct, options.cacheFraction(), options.overlapSwaps(), wall, batch / (wall / 1e3), inPrefetch / 1e6 / steps,
                    inTrain / 1e6 / steps, b.cacheHitRate());
        }
    }

    private static void run(String name, int batch) {
        ModelConfig config = ModelConfig.kaggle(name, batch, OptimizerKind.SGD, Precision.FP32);
        long[] rows = config.tables().stream().mapToLong(TableSpec::rows).toArray();
        int capacity = (int) Math.ceil(0.02 * config.totalRows());
        Examples[] data = TrainerGpuBench.batches(name, batch, 8, 1);
        try (DlrmKernels k = new DlrmKernels(); DeviceModel model = new DeviceModel(config, k, capacity, batch);
             GpuEmbeddingCache cache = new GpuEmbeddingCache(k, model, rows, capacity, 200, false)) {
            long ticket = 0;
            for (int i = 0; i < 40; i++) {
                ticket++;
                cache.profile(data[i % data.length].sparse, batch, ticket, ticket);
            }
            cache.resetStats();
            double[] sum = new double[GpuEmbeddingCache.STAGES.size()];
            int plans = 20;
            long host = 0;
            for (int i = 0; i < plans; i++) {
                ticket++;
                long t0 = System.nanoTime();
                double[] ms = cache.profile(data[i % data.length].sparse, batch, ticket, ticket);
                host += System.nanoTime() - t0;
                for (int s = 0; s < sum.length; s++) sum[s] += ms[s];
            }
            StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "%s batch %d cache %d rows: hit rate %.4f, plan wall %.2f ms |",
                    name, batch, capacity, cache.hitRate(), host / 1e6 / plans));
            for (int s = 0; s < sum.length; s++) {
                line.append(String.format(Locale.ROOT, " %s %.3f ms |", GpuEmbeddingCache.STAGES.get(s), sum[s] / plans));
            }
            line.append(String.format(Locale.ROOT, " rows loaded per plan %.0f", cache.misses() / (double) plans));
            System.out.println(line);
        }
    }
}
