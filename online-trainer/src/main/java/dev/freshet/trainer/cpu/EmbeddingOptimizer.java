package dev.freshet.trainer.cpu;

import dev.freshet.trainer.EmbeddingTable;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.OptimizerKind;
import dev.freshet.trainer.OptimizerSpec;
import dev.freshet.trainer.model.ParallelFor;
import dev.freshet.trainer.model.SparseArch;

import java.util.Arrays;

/**
 * Updates each distinct embedding row of a batch once, from its summed gradient g [D] (fp32):
 * <ul>
 *   <li>row-wise Adagrad (as FBGEMM's {@code EmbOptimType.EXACT_ROWWISE_ADAGRAD} used by TorchRec):
 *       {@code acc += sum(g^2) / D; w -= lr g / (sqrt(acc) + eps)}, one accumulator per row;</li>
 *   <li>SGD: {@code w -= lr g}.</li>
 * </ul>
 * Tables run in parallel; every updated row is marked touched and checked for NaN/Inf.
 */
final class EmbeddingOptimizer {
    private final OptimizerSpec spec;
    private final ModelState state;
    private final ParallelFor pool;
    private final float[][] rowBuffers;
    /** Per table: the first row whose new weights are not finite in the last step, or -1. */
    private final int[] nonFiniteRow;
    private SparseArch gradients;
    private final ParallelFor.RangeTask task = this::update;

    EmbeddingOptimizer(OptimizerSpec spec, ModelState state, ParallelFor pool) {
        this.spec = spec;
        this.state = state;
        this.pool = pool;
        int tables = state.config().numTables();
        this.rowBuffers = new float[tables][state.config().embeddingDim()];
        this.nonFiniteRow = new int[tables];
    }

    void step(SparseArch sparse) {
        this.gradients = sparse;
        Arrays.fill(nonFiniteRow, -1);
        pool.run(rowBuffers.length, task);
    }

    /** Table index whose update produced a non-finite weight, or -1. */
    int firstNonFiniteTable() {
        for (int t = 0; t < nonFiniteRow.length; t++) {
            if (nonFiniteRow[t] >= 0) return t;
        }
        return -1;
    }

    int nonFiniteRow(int table) {
        return nonFiniteRow[table];
    }

    private void update(int from, int to) {
        float lr = spec.learningRate();
        float eps = spec.eps();
        boolean adagrad = spec.kind() == OptimizerKind.ROWWISE_ADAGRAD;
        for (int t = from; t < to; t++) {
            EmbeddingTable table = state.tables().get(t);
            float[] w = rowBuffers[t];
            int dim = w.length;
            int[] rows = gradients.uniqueRows(t);
            float[] g = gradients.rowGradients(t);
            int count = gradients.uniqueCount(t);
            for (int u = 0; u < count; u++) {
                int row = rows[u];
                int go = u * dim;
                table.readRow(row, w, 0);
                float scale = lr;
                if (adagrad) {
                    float squares = 0f;
                    for (int k = 0; k < dim; k++) squares += g[go + k] * g[go + k];
                    float acc = table.accumulator(row) + squares / dim;
                    table.setAccumulator(row, acc);
                    scale = lr / ((float) Math.sqrt(acc) + eps);
                }
                boolean finite = true;
                for (int k = 0; k < dim; k++) {
                    w[k] -= scale * g[go + k];
                    finite &= Float.isFinite(w[k]);
                }
                if (!finite && nonFiniteRow[t] < 0) nonFiniteRow[t] = row;
                table.writeRow(row, w, 0);
                state.markTouched(t, row);
            }
        }
    }
}
