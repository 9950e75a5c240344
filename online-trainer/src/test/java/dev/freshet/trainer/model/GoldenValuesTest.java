package dev.freshet.trainer.model;

import dev.freshet.features.Examples;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.SmallModels;
import dev.freshet.trainer.cpu.CpuBackend;
import dev.freshet.trainer.host.HostModelState;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Seeded golden values of {@link SmallModels#config(long)} with seed 7 (3 tables of 7, 5, 50 rows, dim 4,
 * bottom 8-4, top 6-4-1, row-wise Adagrad 0.05 / Adagrad 0.01) on a fixed, hand-written batch.
 *
 * <p>How they were produced: printed by this code once ({@code PRINT=true} in {@link #print}) and pinned
 * here. Independently of that run, the test cross-checks (a) the initial weights against a second
 * implementation of {@link Initializer}'s documented formula, written from its doc comment, and (b) the
 * first loss against the float64 {@link ReferenceDlrm}. So a change that moves these numbers is a
 * change of the model's contract (initialisation, forward, loss or update rule), which the CUDA
 * backend and saved checkpoints depend on. Tolerance 1e-6 relative: fp32 rounding differences from
 * a reordered sum stay below it, a changed formula does not.
 */
class GoldenValuesTest {
    private static final boolean PRINT = false;

    @Test
    void smallModelInitialisationLossesAndWeightsArePinned() {
        ModelConfig config = SmallModels.config(7);
        Examples batch = fixedBatch();
        try (CpuBackend backend = CpuBackend.create(config, 1)) {
            HostModelState state = backend.state();
            float[] rowA0 = new float[4];
            float[] rowC49 = new float[4];
            state.tables().get(0).readRow(0, rowA0, 0);
            state.tables().get(2).readRow(49, rowC49, 0);
            float[] dense = state.dense().values();
            int topBias = state.dense().layers().get(4).biasOffset();

            // (a) the documented initialisation, re-implemented from Initializer's doc comment
            for (int k = 0; k < 4; k++) {
                assertEquals(documentedUniform(7, 0, 7, 0, k), rowA0[k], 0f, "table A row 0 [" + k + "]");
                assertEquals(documentedUniform(7, 2, 50, 49, k), rowC49[k], 0f, "table C row 49 [" + k + "]");
            }
            double loss0Reference = new ReferenceDlrm(state).loss(batch);

            float[] p = new float[8];
            double[] losses = new double[3];
            float p0 = 0;
            for (int s = 0; s < 3; s++) {
                losses[s] = backend.train(batch, p).loss();
                if (s == 0) p0 = p[0];
            }
            // (b) the fp32 loss against the float64 reference
            assertEquals(loss0Reference, losses[0], 1e-6);

            float[] rowA1After = new float[4];
            state.tables().get(0).readRow(1, rowA1After, 0);
            print(rowA0, rowC49, dense, topBias, losses, p0, rowA1After, state.tables().get(0).accumulator(1));

            assertPinned(new double[]{0.2909787, 0.20720832, 0.18941297, 0.06765161}, rowA0, "table A row 0 at init");
            assertPinned(new double[]{0.10952562, -0.07295588, -0.101167515, -0.06421533}, rowC49, "table C row 49 at init");
            assertPinned(new double[]{0.7806313007280827, 0.776038702533842, 0.7732213840423977}, losses, "losses of 3 steps on one batch");
            assertPinned(new double[]{0.6178359389}, new float[]{p0}, "probability of example 0 before the first update");
            assertPinned(new double[]{-0.15822358, 0.1999714, 0.22899356, -0.11428435}, rowA1After, "table A row 1 after 3 steps");
            assertPinned(new double[]{3.83e-8}, new float[]{state.tables().get(0).accumulator(1)}, "its row-wise accumulator");
            assertPinned(new double[]{0.0021646186, 0.1121375710, -0.6394217014}, new float[]{dense[0], dense[1], dense[2]}, "bottom.0 weight [0, 0..2] after 3 steps");
            assertPinned(new double[]{0.4314243495}, new float[]{dense[topBias]}, "top.2 bias after 3 steps");
        }
    }

    /** 8 examples written out by formula: dense in [-1.25, 1.25], rows cycling with repeats, 3 positives. */
    private static Examples fixedBatch() {
        Examples e = new Examples(8, 3, 3);
        int[] rows = {7, 5, 50};
        for (int b = 0; b < 8; b++) {
            for (int i = 0; i < 3; i++) e.dense[b * 3 + i] = ((b * 7 + i * 3) % 11 - 5) / 4f;
            for (int t = 0; t < 3; t++) e.sparse[b * 3 + t] = (b * 5 + t * 3) % rows[t];
            e.labels[b] = (byte) (b % 3 == 0 ? 1 : 0);
        }
        e.count = 8;
        return e;
    }

    /** Initializer's documented embedding formula, written again from its doc comment. */
    private static float documentedUniform(long seed, int table, long rows, int row, int k) {
        long g = 0x9E3779B97F4A7C15L;
        long state = mix(mix(mix(mix(seed) + 0x454D4244L) + table * g) + row * g);
        for (int i = 0; i <= k; i++) state += g;
        double u = (mix(state) >>> 11) * 0x1.0p-53;
        double bound = Math.sqrt(1.0 / rows);
        return (float) (-bound + 2 * bound * u);
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    private static void assertPinned(double[] expected, float[] actual, String what) {
        double[] a = new double[actual.length];
        for (int i = 0; i < a.length; i++) a[i] = actual[i];
        assertPinned(expected, a, what);
    }

    private static void assertPinned(double[] expected, double[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 1e-6 * Math.max(1e-3, Math.abs(expected[i])), what + " [" + i + "]");
        }
    }

    private static void print(float[] rowA0, float[] rowC49, float[] dense, int topBias, double[] losses, float p0,
                              float[] rowA1After, float acc) {
        if (!PRINT) return;
        System.out.printf("rowA0 %s%nrowC49 %s%nlosses %s%np0 %.10f%nrowA1After %s%nacc %.10f%ndense %.10f %.10f %.10f%ntopBias %.10f%n",
                java.util.Arrays.toString(rowA0), java.util.Arrays.toString(rowC49), java.util.Arrays.toString(losses), p0,
                java.util.Arrays.toString(rowA1After), acc, dense[0], dense[1], dense[2], dense[topBias]);
    }
}
