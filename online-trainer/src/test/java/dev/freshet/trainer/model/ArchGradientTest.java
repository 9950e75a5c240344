package dev.freshet.trainer.model;

import dev.freshet.features.Examples;
import dev.freshet.trainer.LayerShape;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.SmallModels;
import dev.freshet.trainer.host.HostModelState;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Gradient checks: each arch's fp32 backward pass against central finite differences of the float64
 * {@link ReferenceDlrm} (h = 1e-6, so the numerical gradient is exact to ~1e-9). Each arch is checked on
 * a scalar {@code L = sum(c * output)} with random weights {@code c}, the whole model on its BCE loss.
 * Tolerance: |analytic - numeric| <= 1e-4 * max(1, |numeric|), a few hundred times fp32 rounding of
 * the sums involved, and far below what any wrong term (a missed pair, a transposed weight) gives.
 */
class ArchGradientTest {
    private static final double H = 1e-6;
    private static final int B = 16;

    private ModelConfig config;
    private HostModelState state;
    private ReferenceDlrm ref;
    private final SplittableRandom random = new SplittableRandom(2024);

    @BeforeEach
    void setUp() {
        config = SmallModels.config(11);
        state = HostModelState.initialize(config);
        ref = new ReferenceDlrm(state);
    }

    @AfterEach
    void tearDown() {
        state.close();
    }

    @Test
    void denseArchWeightGradientsMatchFiniteDifferences() {
        float[] grad = new float[state.dense().size()];
        DenseArch arch = new DenseArch(state.dense(), grad, B, false, ParallelFor.SEQUENTIAL);
        float[] x = randoms(B * config.numDense());
        float[] c = randoms(B * config.embeddingDim());
        arch.forward(x, B);
        double[][] xs = rows(x, config.numDense());
        for (int b = 0; b < B; b++) {
            double[] expected = ref.mlp(ref.bottom, xs[b]);
            for (int k = 0; k < expected.length; k++) {
                assertEquals(expected[k], arch.output()[b][k], 1e-5, "bottom output");
            }
        }
        arch.backward(rows(c, config.embeddingDim(), B));
        DoubleSupplier loss = () -> {
            double s = 0;
            for (int b = 0; b < B; b++) {
                double[] y = ref.mlp(ref.bottom, xs[b]);
                for (int k = 0; k < y.length; k++) s += c[b * y.length + k] * y[k];
            }
            return s;
        };
        int checked = checkParameters(ref.bottom, grad, loss);
        assertEquals(3 * 8 + 8 + 8 * 4 + 4, checked);
    }

    @Test
    void overArchWeightAndInputGradientsMatchFiniteDifferences() {
        float[] grad = new float[state.dense().size()];
        OverArch arch = new OverArch(state.dense(), grad, B, false, ParallelFor.SEQUENTIAL);
        int width = config.topInputWidth();
        float[] x = randoms(B * width);
        float[] c = randoms(B);
        arch.forward(rows(x, width, B), B);
        double[][] xs = rows(x, width);
        for (int b = 0; b < B; b++) {
            assertEquals(ref.mlp(ref.top, xs[b])[0], arch.logits()[b][0], 1e-5, "logit");
        }
        arch.backward(rows(c, 1, B));
        DoubleSupplier loss = () -> {
            double s = 0;
            for (int b = 0; b < B; b++) s += c[b] * ref.mlp(ref.top, xs[b])[0];
            return s;
        };
        assertEquals(10 * 6 + 6 + 6 * 4 + 4 + 4 + 1, checkParameters(ref.top, grad, loss));
        for (int b = 0; b < B; b++) {
            for (int i = 0; i < width; i++) {
                int bb = b;
                double numeric = central(xs[b], i, () -> c[bb] * ref.mlp(ref.top, xs[bb])[0]);
                assertClose(numeric, arch.inputGradient()[b][i], "d input [" + b + ", " + i + "]");
            }
        }
    }

    @Test
    void interactionGradientsMatchFiniteDifferences() {
        int dim = config.embeddingDim();
        int tables = config.numTables();
        InteractionArch arch = new InteractionArch(tables, dim, B, ParallelFor.SEQUENTIAL);
        float[] dense = randoms(B * dim);
        float[] pooled = randoms(B * tables * dim);
        int width = arch.outputWidth();
        assertEquals(dim + 6, width);
        float[] c = randoms(B * width);
        arch.forward(rows(dense, dim, B), rows(pooled, dim, B * tables), B);
        arch.backward(rows(c, width, B), B);
        for (int b = 0; b < B; b++) {
            double[] d = new double[dim];
            double[][] p = new double[tables][dim];
            for (int k = 0; k < dim; k++) d[k] = dense[b * dim + k];
            for (int t = 0; t < tables; t++) for (int k = 0; k < dim; k++) p[t][k] = pooled[(b * tables + t) * dim + k];
            double[] out = ReferenceDlrm.interact(d, p);
            for (int i = 0; i < width; i++) assertEquals(out[i], arch.output()[b][i], 1e-5, "interaction output");
            int bb = b;
            DoubleSupplier loss = () -> {
                double[] o = ReferenceDlrm.interact(d, p);
                double s = 0;
                for (int i = 0; i < o.length; i++) s += c[bb * width + i] * o[i];
                return s;
            };
            for (int k = 0; k < dim; k++) {
                assertClose(central(d, k, loss), arch.denseGradient()[b][k], "d dense");
            }
            for (int t = 0; t < tables; t++) {
                for (int k = 0; k < dim; k++) {
                    assertClose(central(p[t], k, loss), arch.pooledGradient()[b * tables + t][k], "d pooled");
                }
            }
        }
    }

    /** Pairs follow torch.tril_indices(F, F, offset=-1): (1,0), (2,0), (2,1), (3,0), (3,1), (3,2). */
    @Test
    void interactionPairsFollowTrilIndicesOrder() {
        InteractionArch arch = new InteractionArch(3, 1, 1, ParallelFor.SEQUENTIAL);
        // V = [2, 3, 5, 7] (dense, then tables): pairs 3*2, 5*2, 5*3, 7*2, 7*3, 7*5
        arch.forward(new float[][]{{2}}, new float[][]{{3}, {5}, {7}}, 1);
        float[] expected = {2, 6, 10, 15, 14, 21, 35};
        assertArrayEquals(expected, arch.output()[0], 0f);
    }

    @Test
    void sparseArchSumsDuplicateRowGradientsFiniteDifferences() {
        SparseArch arch = new SparseArch(state.tables(), config.embeddingDim(), B, ParallelFor.SEQUENTIAL);
        Examples batch = SmallModels.batch(config, B, 5);
        int dim = config.embeddingDim();
        int tables = config.numTables();
        arch.forward(batch.sparse, B);
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < tables; t++) {
                int row = batch.sparse[b * tables + t];
                for (int k = 0; k < dim; k++) {
                    assertEquals(ref.tables[t][row * dim + k], arch.output()[b * tables + t][k], 0.0, "pooled = the row");
                }
            }
        }
        float[] g = randoms(B * tables * dim);
        arch.backward(rows(g, dim, B * tables));
        DoubleSupplier loss = () -> {
            double s = 0;
            for (int b = 0; b < B; b++) {
                double[][] p = ref.pooled(batch, b);
                for (int t = 0; t < tables; t++) for (int k = 0; k < dim; k++) s += g[(b * tables + t) * dim + k] * p[t][k];
            }
            return s;
        };
        boolean duplicates = false;
        for (int t = 0; t < tables; t++) {
            int u = arch.uniqueCount(t);
            assertTrue(u >= 1 && u <= B);
            duplicates |= u < B;
            for (int i = 0; i < u; i++) {
                int row = arch.uniqueRows(t)[i];
                if (i > 0) assertTrue(row > arch.uniqueRows(t)[i - 1], "unique rows ascending");
                for (int k = 0; k < dim; k++) {
                    double numeric = central(ref.tables[t], row * dim + k, loss);
                    assertClose(numeric, arch.rowGradients(t)[i * dim + k], "table " + t + " row " + row);
                }
            }
            // rows not in the batch have zero gradient: they are absent from the unique list
            int present = 0;
            for (int r = 0; r < config.tables().get(t).rows(); r++) {
                boolean used = false;
                for (int b = 0; b < B; b++) used |= batch.sparse[b * tables + t] == r;
                if (used) present++;
            }
            assertEquals(present, u, "distinct rows of table " + t);
        }
        assertTrue(duplicates, "the fixture must repeat IDs within a batch");
    }

    @Test
    void wholeModelLossGradientMatchesFiniteDifferences() {
        Dlrm model = new Dlrm(state, B, ParallelFor.SEQUENTIAL);
        Examples batch = SmallModels.batch(config, B, 9);
        model.forward(batch.dense, batch.sparse, B);
        float[] p = new float[B];
        double loss = model.loss(batch.labels, p);
        assertEquals(ref.loss(batch), loss, 1e-6, "fp32 forward vs float64 reference");
        model.backward();
        DoubleSupplier refLoss = () -> ref.loss(batch);
        int checked = checkParameters(ref.bottom, model.denseGradient(), refLoss)
                + checkParameters(ref.top, model.denseGradient(), refLoss);
        assertEquals(state.dense().size(), checked);
        int dim = config.embeddingDim();
        SparseArch sparse = model.sparseArch();
        for (int t = 0; t < config.numTables(); t++) {
            for (int i = 0; i < sparse.uniqueCount(t); i++) {
                int row = sparse.uniqueRows(t)[i];
                for (int k = 0; k < dim; k++) {
                    assertClose(central(ref.tables[t], row * dim + k, refLoss), sparse.rowGradients(t)[i * dim + k],
                            "embedding table " + t + " row " + row + " [" + k + "]");
                }
            }
        }
    }

    /** Checks every weight and bias of {@code layers}; returns how many. */
    private int checkParameters(List<LayerShape> layers, float[] grad, DoubleSupplier loss) {
        int n = 0;
        for (LayerShape l : layers) {
            for (int i = l.weightOffset(); i < l.biasOffset() + l.out(); i++) {
                assertClose(central(ref.params, i, loss), grad[i], "layer " + l.name() + " parameter " + (i - l.weightOffset()));
                n++;
            }
        }
        return n;
    }

    private static double central(double[] values, int index, DoubleSupplier f) {
        double v = values[index];
        values[index] = v + H;
        double plus = f.getAsDouble();
        values[index] = v - H;
        double minus = f.getAsDouble();
        values[index] = v;
        return (plus - minus) / (2 * H);
    }

    static void assertClose(double numeric, double analytic, String what) {
        double tol = 1e-4 * Math.max(1, Math.abs(numeric));
        assertTrue(Math.abs(numeric - analytic) <= tol,
                () -> what + ": analytic " + analytic + " vs numeric " + numeric + " (tolerance " + tol + ")");
    }

    private float[] randoms(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) random.nextDouble(-1, 1);
        return a;
    }

    /** Row-major [n, width] as n float rows. */
    private static float[][] rows(float[] x, int width, int n) {
        float[][] r = new float[n][width];
        for (int b = 0; b < n; b++) System.arraycopy(x, b * width, r[b], 0, width);
        return r;
    }

    private static double[][] rows(float[] x, int width) {
        double[][] r = new double[x.length / width][width];
        for (int i = 0; i < x.length; i++) r[i / width][i % width] = x[i];
        return r;
    }
}
