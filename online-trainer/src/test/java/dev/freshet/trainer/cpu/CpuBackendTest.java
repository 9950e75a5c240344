package dev.freshet.trainer.cpu;

import dev.freshet.features.Examples;
import dev.freshet.trainer.DenseParameters;
import dev.freshet.trainer.EmbeddingTable;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelDivergedException;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.OptimizerKind;
import dev.freshet.trainer.OptimizerSpec;
import dev.freshet.trainer.Precision;
import dev.freshet.trainer.SmallModels;
import dev.freshet.trainer.StepResult;
import dev.freshet.trainer.host.HostModelState;
import dev.freshet.trainer.model.Dlrm;
import dev.freshet.trainer.model.ParallelFor;
import dev.freshet.trainer.model.SparseArch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CpuBackendTest {

    /** Same config, seed and batches: the same bits in every weight and accumulator, for 1 to 4 threads and across runs. */
    @ParameterizedTest
    @EnumSource(value = OptimizerKind.class, names = {"ADAGRAD", "ADAM", "SGD"})
    void trainingIsBitForBitDeterministicAcrossRunsAndThreadCounts(OptimizerKind dense) {
        ModelConfig config = SmallModels.config(3, OptimizerKind.ROWWISE_ADAGRAD, dense, Precision.FP32).withBatchSize(96);
        float[][] reference = null;
        for (int threads : new int[]{1, 2, 3, 4, 2}) {
            try (CpuBackend backend = CpuBackend.create(config, threads)) {
                float[] probabilities = new float[96];
                double lossSum = 0;
                for (int step = 0; step < 12; step++) {
                    lossSum += backend.train(SmallModels.batch(config, 96, 100 + step), probabilities).loss();
                }
                float[][] snapshot = snapshot(backend.state(), probabilities, lossSum);
                if (reference == null) {
                    reference = snapshot;
                } else {
                    for (int i = 0; i < reference.length; i++) {
                        assertArrayEquals(reference[i], snapshot[i], 0f, "part " + i + " with " + threads + " threads");
                    }
                }
            }
        }
    }

    @Test
    void trainReturnsThePreUpdateProbabilitiesThatPredictGives() {
        ModelConfig config = SmallModels.config(5);
        try (CpuBackend backend = CpuBackend.create(config, 2)) {
            Examples batch = SmallModels.batch(config, 16, 1);
            float[] predicted = new float[16];
            float[] trained = new float[16];
            backend.predict(batch, predicted);
            StepResult result = backend.train(batch, trained);
            assertArrayEquals(predicted, trained, 0f);
            assertEquals(16, result.examples());
            double bce = 0;
            for (int b = 0; b < 16; b++) {
                double p = predicted[b];
                bce -= batch.labels[b] == 1 ? Math.log(p) : Math.log(1 - p);
            }
            assertEquals(bce / 16, result.loss(), 1e-5, "loss is the mean BCE of the returned probabilities");
            float[] after = new float[16];
            backend.predict(batch, after);
            assertFalse(Arrays.equals(predicted, after), "the step changed the model");
        }
    }

    @Test
    void predictHandlesBatchesLargerThanTheConfiguredSize() {
        ModelConfig config = SmallModels.config(5);
        try (CpuBackend backend = CpuBackend.create(config, 2)) {
            Examples big = SmallModels.batch(config, 40, 2);
            float[] all = new float[40];
            backend.predict(big, all);
            Examples first = SmallModels.batch(config, 40, 2);
            first.count = 16;
            float[] part = new float[16];
            backend.predict(first, part);
            assertArrayEquals(part, Arrays.copyOf(all, 16), 0f);
        }
    }

    /**
     * Duplicate IDs accumulate: one row used by every example gets the summed gradient and one
     * row-wise Adagrad update: acc = mean(g^2), w -= lr g / (sqrt(acc) + eps).
     */
    @Test
    void duplicateRowsAreUpdatedOnceWithTheSummedGradientByRowwiseAdagrad() {
        ModelConfig config = SmallModels.config(8);
        try (CpuBackend backend = CpuBackend.create(config, 2);
             HostModelState copy = HostModelState.copyOf(backend.state())) {
            Examples batch = SmallModels.batch(config, 16, 4);
            for (int b = 0; b < 16; b++) batch.sparse[b * 3] = 3; // table A: every example uses row 3
            Dlrm model = new Dlrm(copy, 16, ParallelFor.SEQUENTIAL);
            model.forward(batch.dense, batch.sparse, 16);
            model.loss(batch.labels, null);
            model.backward();
            SparseArch sparse = model.sparseArch();
            assertEquals(1, sparse.uniqueCount(0));
            float[] g = Arrays.copyOf(sparse.rowGradients(0), 4);
            float[] before = new float[4];
            copy.tables().get(0).readRow(3, before, 0);

            backend.train(batch, new float[16]);

            float acc = (g[0] * g[0] + g[1] * g[1] + g[2] * g[2] + g[3] * g[3]) / 4;
            assertEquals(acc, backend.state().tables().get(0).accumulator(3), 1e-7f * acc);
            float[] after = new float[4];
            backend.state().tables().get(0).readRow(3, after, 0);
            for (int k = 0; k < 4; k++) {
                float expected = before[k] - 0.05f * g[k] / ((float) Math.sqrt(acc) + 1e-8f);
                assertEquals(expected, after[k], 1e-6f, "row 3 [" + k + "]");
            }
            int[][] touched = backend.state().drainTouchedRows();
            assertArrayEquals(new int[]{3}, touched[0]);
            assertEquals(0, backend.state().drainTouchedRows()[0].length, "drain resets the record");
        }
    }

    /** One dense step against the optimizer's formula, from the gradient of an identical model. */
    @ParameterizedTest
    @EnumSource(value = OptimizerKind.class, names = {"ADAGRAD", "ADAM", "SGD"})
    void denseUpdatesFollowTheOptimizerFormulas(OptimizerKind kind) {
        ModelConfig config = SmallModels.config(9, OptimizerKind.SGD, kind, Precision.FP32);
        try (CpuBackend backend = CpuBackend.create(config, 2);
             HostModelState copy = HostModelState.copyOf(backend.state())) {
            Examples batch = SmallModels.batch(config, 16, 6);
            Dlrm model = new Dlrm(copy, 16, ParallelFor.SEQUENTIAL);
            model.forward(batch.dense, batch.sparse, 16);
            model.loss(batch.labels, null);
            model.backward();
            float[] g = model.denseGradient();
            float[] w0 = copy.dense().values();
            backend.train(batch, new float[16]);
            float[] w1 = backend.state().dense().values();
            OptimizerSpec spec = config.denseOptimizer();
            int changed = 0;
            for (int i = 0; i < w0.length; i++) {
                double expected = switch (kind) {
                    case SGD -> w0[i] - spec.learningRate() * (double) g[i];
                    case ADAGRAD -> w0[i] - spec.learningRate() * (double) g[i] / (Math.abs((double) g[i]) + spec.eps());
                    // t = 1: m^ = g, v^ = g^2
                    case ADAM -> w0[i] - spec.learningRate() * (double) g[i] / (Math.abs((double) g[i]) + spec.eps());
                    default -> throw new AssertionError();
                };
                assertEquals(expected, w1[i], 2e-6 * Math.max(1, Math.abs(expected)), kind + " parameter " + i);
                if (w1[i] != w0[i]) changed++;
            }
            assertTrue(changed > w0.length / 2, "most parameters moved: " + changed);
            if (kind == OptimizerKind.ADAM) assertEquals(1, backend.state().dense().step());
        }
    }

    @Test
    void badBatchesAreRefusedBeforeAnyWeightChanges() {
        ModelConfig config = SmallModels.config(12);
        try (CpuBackend backend = CpuBackend.create(config, 2)) {
            float[] dense0 = backend.state().dense().values().clone();
            float[] out = new float[16];

            Examples outOfRange = SmallModels.batch(config, 16, 1);
            outOfRange.sparse[5 * 3 + 2] = 50;
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> backend.train(outOfRange, out));
            assertEquals("embedding row 50 out of range for table C (50 rows), in example 5 of the batch", e.getMessage());

            Examples negative = SmallModels.batch(config, 16, 1);
            negative.sparse[0] = -1;
            assertTrue(assertThrows(IllegalArgumentException.class, () -> backend.predict(negative, out)).getMessage()
                    .startsWith("embedding row -1 out of range for table A (7 rows)"));

            Examples wrongCounts = new Examples(16, 2, 3);
            wrongCounts.count = 16;
            assertEquals("batch has 2 dense and 3 categorical features per example; the model expects 3 and 3",
                    assertThrows(IllegalArgumentException.class, () -> backend.train(wrongCounts, out)).getMessage());

            Examples badLabel = SmallModels.batch(config, 16, 1);
            badLabel.labels[7] = 2;
            assertEquals("label 2 of example 7 is not 0 or 1",
                    assertThrows(IllegalArgumentException.class, () -> backend.train(badLabel, out)).getMessage());

            Examples nan = SmallModels.batch(config, 16, 1);
            nan.dense[4 * 3 + 1] = Float.NaN;
            assertEquals("dense feature 1 of example 4 is NaN; inputs must be finite",
                    assertThrows(IllegalArgumentException.class, () -> backend.train(nan, out)).getMessage());

            assertArrayEquals(dense0, backend.state().dense().values(), 0f, "no weight changed");
            for (int[] rows : backend.state().drainTouchedRows()) assertEquals(0, rows.length, "no row touched");
            assertEquals(0, backend.steps());
            backend.train(SmallModels.batch(config, 16, 1), out); // and training goes on
            assertEquals(1, backend.steps());
        }
    }

    @Test
    void aNonFiniteLossStopsTrainingNamingTheStepAndTheLayer() {
        ModelConfig config = SmallModels.config(13);
        try (CpuBackend backend = CpuBackend.create(config, 2)) {
            float[] out = new float[16];
            backend.train(SmallModels.batch(config, 16, 1), out);
            DenseParameters dense = backend.state().dense();
            dense.values()[dense.layers().get(3).biasOffset() + 1] = Float.NaN;
            float[] row = new float[4];
            backend.state().tables().get(2).readRow(0, row, 0);
            ModelDivergedException e = assertThrows(ModelDivergedException.class,
                    () -> backend.train(SmallModels.batch(config, 16, 2), out));
            assertTrue(e.getMessage().startsWith("loss is NaN at step 1 (batch of 16 examples)"), e.getMessage());
            assertTrue(e.getMessage().contains("layer top.1 bias [1] is NaN"), e.getMessage());
            float[] rowAfter = new float[4];
            backend.state().tables().get(2).readRow(0, rowAfter, 0);
            assertArrayEquals(row, rowAfter, 0f, "no update after a NaN loss");
        }
    }

    @Test
    void anExplodingUpdateStopsTrainingNamingTheLayer() {
        ModelConfig base = SmallModels.config(14);
        ModelConfig config = new ModelConfig(base.tables(), base.numDense(), base.embeddingDim(), base.bottomMlp(), base.topMlp(),
                base.embeddingOptimizer(), OptimizerSpec.of(OptimizerKind.SGD, 1e38f), base.batchSize(), base.seed(), base.precision());
        try (CpuBackend backend = CpuBackend.create(config, 2)) {
            // rows of 30s make interaction values ~3600, so lr * gradient overflows fp32 in the first update
            float[] thirties = new float[4];
            Arrays.fill(thirties, 30f);
            for (EmbeddingTable table : backend.state().tables()) {
                for (int r = 0; r < table.spec().rows(); r++) table.writeRow(r, thirties, 0);
            }
            ModelDivergedException e = assertThrows(ModelDivergedException.class,
                    () -> backend.train(SmallModels.batch(config, 16, 1), new float[16]));
            assertTrue(e.getMessage().matches("after step 0 layer (bottom|top)\\.\\d (weight|bias) \\[.*\\] is (-?Infinity|NaN) .*"),
                    e.getMessage());
        }
    }

    @Test
    void anExplodingEmbeddingUpdateStopsTrainingNamingTheTableAndRow() {
        ModelConfig base = SmallModels.config(15);
        ModelConfig config = new ModelConfig(base.tables(), base.numDense(), base.embeddingDim(), base.bottomMlp(), base.topMlp(),
                OptimizerSpec.of(OptimizerKind.SGD, 1e38f), OptimizerSpec.of(OptimizerKind.SGD, 1e-6f), base.batchSize(), base.seed(),
                base.precision());
        try (CpuBackend backend = CpuBackend.create(config, 2)) {
            float[] large = new float[4];
            Arrays.fill(large, 300f); // gradients w.r.t. the rows ~ 10, times lr 1e38 overflows fp32
            for (EmbeddingTable table : backend.state().tables()) {
                for (int r = 0; r < table.spec().rows(); r++) table.writeRow(r, large, 0);
            }
            ModelDivergedException e = assertThrows(ModelDivergedException.class,
                    () -> backend.train(SmallModels.batch(config, 16, 1), new float[16]));
            assertTrue(e.getMessage().matches("after step 0 embedding table [ABC] row \\d+ is not finite .*"), e.getMessage());
        }
    }

    /** bf16 emulation rounds the MLP operands: close to fp32 (the documented 1e-2), but not equal. */
    @Test
    void bf16PredictionsStayWithinTheDocumentedToleranceOfFp32() {
        ModelConfig fp32 = SmallModels.config(21);
        ModelConfig bf16 = fp32.withPrecision(Precision.BF16);
        try (CpuBackend a = CpuBackend.create(fp32, 2); CpuBackend b = CpuBackend.create(bf16, 2)) {
            Examples batch = SmallModels.batch(fp32, 16, 3);
            float[] pa = new float[16];
            float[] pb = new float[16];
            a.predict(batch, pa);
            b.predict(batch, pb);
            assertFalse(Arrays.equals(pa, pb), "bf16 rounding must change something");
            for (int i = 0; i < 16; i++) assertEquals(pa[i], pb[i], 1e-2, "example " + i);
        }
    }

    @Test
    void loadReplacesWeightsAndOptimizerState() {
        ModelConfig config = SmallModels.config(4, OptimizerKind.ROWWISE_ADAGRAD, OptimizerKind.ADAM, Precision.FP32);
        try (CpuBackend trained = CpuBackend.create(config, 1); CpuBackend fresh = CpuBackend.create(config, 2)) {
            for (int s = 0; s < 3; s++) trained.train(SmallModels.batch(config, 16, s), new float[16]);
            fresh.load(trained.state());
            Examples next = SmallModels.batch(config, 16, 99);
            float[] p1 = new float[16];
            float[] p2 = new float[16];
            trained.train(next, p1);
            fresh.train(next, p2);
            assertArrayEquals(p1, p2, 0f);
            assertArrayEquals(trained.state().dense().values(), fresh.state().dense().values(), 0f, "Adam state was loaded too");
        }
    }

    @Test
    void closeIsIdempotentAndRefusesUseAfterwards() {
        CpuBackend backend = CpuBackend.create(SmallModels.config(1), 2);
        assertEquals("cpu (2 threads)", backend.description());
        backend.close();
        backend.close();
        assertThrows(IllegalStateException.class, backend::state);
        assertThrows(IllegalStateException.class, () -> backend.predict(SmallModels.batch(SmallModels.config(1), 1, 1), new float[1]));
    }

    private static float[][] snapshot(ModelState state, float[] probabilities, double lossSum) {
        List<EmbeddingTable> tables = state.tables();
        float[][] parts = new float[4 + 2 * tables.size()][];
        DenseParameters d = state.dense();
        parts[0] = d.values().clone();
        parts[1] = d.slot1().clone();
        parts[2] = d.slot2().clone();
        parts[3] = new float[]{(float) lossSum, (float) (lossSum - (float) lossSum)};
        for (int t = 0; t < tables.size(); t++) {
            EmbeddingTable table = tables.get(t);
            int rows = (int) table.spec().rows();
            float[] w = new float[rows * table.spec().dim()];
            float[] acc = new float[rows];
            for (int r = 0; r < rows; r++) {
                table.readRow(r, w, r * table.spec().dim());
                acc[r] = table.accumulator(r);
            }
            parts[4 + 2 * t] = w;
            parts[5 + 2 * t] = acc;
        }
        assertNotEquals(0f, probabilities[0]);
        return parts;
    }
}
