package dev.freshet.trainer;

import dev.freshet.features.Examples;

import java.util.List;
import java.util.SplittableRandom;

/** Small seeded models and batches for unit tests. */
public final class SmallModels {
    private SmallModels() {
    }

    /**
     * Three tables (7, 5 and 50 rows, so batches repeat IDs), dim 4, 3 dense features, bottom MLP 8-4,
     * top MLP 6-4-1 (top input 4 + 4*3/2 = 10), batch 16.
     */
    public static ModelConfig config(long seed, OptimizerKind embedding, OptimizerKind dense, Precision precision) {
        return new ModelConfig(List.of(new TableSpec("A", 7, 4), new TableSpec("B", 5, 4), new TableSpec("C", 50, 4)),
                3, 4, List.of(8, 4), List.of(6, 4, 1), OptimizerSpec.of(embedding, 0.05f), OptimizerSpec.of(dense, 0.01f),
                16, seed, precision);
    }

    public static ModelConfig config(long seed) {
        return config(seed, OptimizerKind.ROWWISE_ADAGRAD, OptimizerKind.ADAGRAD, Precision.FP32);
    }

    /** {@code n} examples: dense ~ U(-2, 2), rows uniform per table, labels Bernoulli(0.3). */
    public static Examples batch(ModelConfig config, int n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        Examples e = new Examples(n, config.numDense(), config.numTables());
        for (int b = 0; b < n; b++) {
            for (int i = 0; i < config.numDense(); i++) e.dense[b * config.numDense() + i] = (float) random.nextDouble(-2, 2);
            for (int t = 0; t < config.numTables(); t++) {
                e.sparse[b * config.numTables() + t] = random.nextInt((int) config.tables().get(t).rows());
            }
            e.labels[b] = (byte) (random.nextDouble() < 0.3 ? 1 : 0);
        }
        e.count = n;
        return e;
    }
}
