package dev.freshet.bench.gpu;

import dev.freshet.features.FeatureLayout;
import dev.freshet.trainer.cuda.internal.CachePlanner;

import java.util.Locale;

/**
 * The GPU cache's host-side planning alone (no GPU): milliseconds per batch for the Criteo-Kaggle tables
 * with the cache at 2% of rows, on batches drawn as the trainer benchmark draws them. With lookahead the
 * plan of the next batch overlaps the current step, so it must stay under the step time.
 *
 *   java -cp ... dev.freshet.bench.gpu.CachePlanBench [threads]
 */
public final class CachePlanBench {
    private CachePlanBench() {
    }

    public static void main(String[] args) {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : Runtime.getRuntime().availableProcessors();
        long[] rows = FeatureLayout.KAGGLE_ROWS;
        long total = 0;
        for (long r : rows) total += r;
        for (int batch : new int[]{2048, 16384, 65536}) {
            var examples = TrainerGpuBench.batches("kaggle128", batch, 24, 3);
            try (CachePlanner p = new CachePlanner(rows, (int) Math.ceil(total * 0.02), threads, 200)) {
                for (int k = 0; k < examples.length; k++) {
                    if (k == 12) p.resetStats();
                    p.plan(examples[k].sparse, batch, k + 1, k);
                }
                System.out.printf(Locale.ROOT, "cache plan batch %6d, %d threads: %7.2f ms/batch, hit rate %.3f%n", batch, threads,
                        p.meanPlanMillis(), p.hitRate());
            }
        }
    }
}
