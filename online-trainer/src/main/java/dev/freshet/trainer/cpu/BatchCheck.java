package dev.freshet.trainer.cpu;

import dev.freshet.features.Examples;
import dev.freshet.trainer.ModelConfig;

import java.util.Objects;

/** Refuses a batch the model cannot take, before any weight is touched, saying which value and why. */
final class BatchCheck {
    private BatchCheck() {
    }

    static void check(ModelConfig config, Examples batch, float[] out, boolean labels) {
        Objects.requireNonNull(batch, "batch");
        Objects.requireNonNull(out, "out");
        if (batch.numDense != config.numDense() || batch.numSparse != config.numTables()) {
            throw new IllegalArgumentException("batch has " + batch.numDense + " dense and " + batch.numSparse
                    + " categorical features per example; the model expects " + config.numDense() + " and " + config.numTables());
        }
        int n = batch.count;
        if (n < 0 || n > batch.capacity() || batch.dense.length < n * batch.numDense || batch.sparse.length < n * batch.numSparse) {
            throw new IllegalArgumentException("batch count " + n + " exceeds its arrays (capacity " + batch.capacity() + ")");
        }
        if (out.length < n) {
            throw new IllegalArgumentException("output array holds " + out.length + " values; the batch has " + n + " examples");
        }
        int tables = config.numTables();
        for (int b = 0; b < n; b++) {
            for (int t = 0; t < tables; t++) {
                int row = batch.sparse[b * tables + t];
                long rows = config.tables().get(t).rows();
                if (row < 0 || row >= rows) {
                    throw new IllegalArgumentException("embedding row " + row + " out of range for table " + config.tables().get(t).name()
                            + " (" + rows + " rows), in example " + b + " of the batch");
                }
            }
        }
        int dense = config.numDense();
        for (int i = 0; i < n * dense; i++) {
            if (!Float.isFinite(batch.dense[i])) {
                throw new IllegalArgumentException("dense feature " + (i % dense) + " of example " + (i / dense) + " is "
                        + batch.dense[i] + "; inputs must be finite");
            }
        }
        if (labels) {
            for (int b = 0; b < n; b++) {
                if (batch.labels[b] != 0 && batch.labels[b] != 1) {
                    throw new IllegalArgumentException("label " + batch.labels[b] + " of example " + b + " is not 0 or 1");
                }
            }
        }
    }
}
