package dev.freshet.trainer.model;

import dev.freshet.features.Examples;
import dev.freshet.trainer.EmbeddingTable;
import dev.freshet.trainer.LayerShape;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelState;

import java.util.List;

/**
 * A float64 DLRM forward pass written as plainly as possible, one example at a time, independent of
 * the production arches: the oracle for finite-difference gradient checks and golden values.
 * Parameters are public arrays so that tests can perturb them.
 */
final class ReferenceDlrm {
    final ModelConfig config;
    final List<LayerShape> bottom;
    final List<LayerShape> top;
    /** Every MLP parameter, {@link dev.freshet.trainer.DenseParameters} layout. */
    final double[] params;
    /** Per table, [rows, dim] row-major. */
    final double[][] tables;

    ReferenceDlrm(ModelState state) {
        this.config = state.config();
        this.bottom = state.dense().bottom();
        this.top = state.dense().top();
        float[] v = state.dense().values();
        this.params = new double[v.length];
        for (int i = 0; i < v.length; i++) params[i] = v[i];
        int dim = config.embeddingDim();
        this.tables = new double[config.numTables()][];
        float[] row = new float[dim];
        for (int t = 0; t < tables.length; t++) {
            EmbeddingTable table = state.tables().get(t);
            int rows = (int) table.spec().rows();
            tables[t] = new double[rows * dim];
            for (int r = 0; r < rows; r++) {
                table.readRow(r, row, 0);
                for (int k = 0; k < dim; k++) tables[t][r * dim + k] = row[k];
            }
        }
    }

    /** y = act(W x + b) layer by layer. */
    double[] mlp(List<LayerShape> layers, double[] x) {
        double[] a = x;
        for (LayerShape l : layers) {
            double[] y = new double[l.out()];
            for (int o = 0; o < l.out(); o++) {
                double s = params[l.biasOffset() + o];
                for (int i = 0; i < l.in(); i++) s += params[l.weightOffset() + o * l.in() + i] * a[i];
                y[o] = l.relu() ? Math.max(0, s) : s;
            }
            a = y;
        }
        return a;
    }

    /** [dense, V[i].V[j] for i in 1..F-1, j in 0..i-1] with V = [dense, pooled...]. */
    static double[] interact(double[] dense, double[][] pooled) {
        int f = pooled.length + 1;
        double[][] v = new double[f][];
        v[0] = dense;
        System.arraycopy(pooled, 0, v, 1, pooled.length);
        double[] out = new double[dense.length + f * (f - 1) / 2];
        System.arraycopy(dense, 0, out, 0, dense.length);
        int p = dense.length;
        for (int i = 1; i < f; i++) {
            for (int j = 0; j < i; j++) {
                double s = 0;
                for (int k = 0; k < dense.length; k++) s += v[i][k] * v[j][k];
                out[p++] = s;
            }
        }
        return out;
    }

    double[][] pooled(Examples batch, int b) {
        int tablesCount = config.numTables();
        int dim = config.embeddingDim();
        double[][] pooled = new double[tablesCount][dim];
        for (int t = 0; t < tablesCount; t++) {
            int row = batch.sparse[b * tablesCount + t];
            System.arraycopy(tables[t], row * dim, pooled[t], 0, dim);
        }
        return pooled;
    }

    double[] denseInput(Examples batch, int b) {
        double[] x = new double[config.numDense()];
        for (int i = 0; i < x.length; i++) x[i] = batch.dense[b * x.length + i];
        return x;
    }

    double logit(Examples batch, int b) {
        double[] dense = mlp(bottom, denseInput(batch, b));
        return mlp(top, interact(dense, pooled(batch, b)))[0];
    }

    /** Mean BCE with logits over the batch. */
    double loss(Examples batch) {
        double sum = 0;
        for (int b = 0; b < batch.count; b++) {
            double z = logit(batch, b);
            double y = batch.labels[b];
            sum += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
        }
        return sum / batch.count;
    }
}
