package dev.freshet.trainer.host;

import dev.freshet.config.ConfigException;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.OptimizerKind;
import dev.freshet.trainer.OptimizerSpec;
import dev.freshet.trainer.Precision;
import dev.freshet.trainer.SmallModels;
import dev.freshet.trainer.TableSpec;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HostEmbeddingTableTest {

    /** 64-byte chunks = 4 rows of dim 4, so 10 rows span 3 chunks and the bulk paths cross boundaries. */
    @Test
    void rowsAndBulkCopiesCrossChunkBoundaries() {
        try (HostEmbeddingTable table = HostEmbeddingTable.allocate(new TableSpec("t", 10, 4), 64)) {
            for (int r = 0; r < 10; r++) {
                table.writeRow(r, new float[]{r, r + 0.25f, r + 0.5f, r + 0.75f}, 0);
                table.setAccumulator(r, r * 10f);
            }
            float[] row = new float[6];
            table.readRow(9, row, 2);
            assertArrayEquals(new float[]{0, 0, 9, 9.25f, 9.5f, 9.75f}, row, 0f);
            assertEquals(70f, table.accumulator(7));

            FloatBuffer all = direct(40);
            table.readRows(1, 9, all, 4);
            for (int r = 1; r < 10; r++) assertEquals(r + 0.5f, all.get(4 * r + 2), 0f, "row " + r);

            FloatBuffer gathered = direct(12);
            table.gatherRows(new int[]{0, 8, 3, 5}, 1, 3, gathered, 0);
            assertEquals(8f, gathered.get(0), 0f);
            assertEquals(3.75f, gathered.get(7), 0f);
            assertEquals(5.25f, gathered.get(9), 0f);

            for (int i = 0; i < 12; i++) gathered.put(i, -i);
            table.scatterRows(new int[]{7, 2, 4}, 0, 3, gathered, 0);
            table.readRow(2, row, 0);
            assertArrayEquals(new float[]{-4, -5, -6, -7}, java.util.Arrays.copyOf(row, 4), 0f);

            FloatBuffer acc = direct(10);
            table.readAccumulators(0, 10, acc, 0);
            assertEquals(90f, acc.get(9), 0f);
            for (int i = 0; i < 10; i++) acc.put(i, 1f + i);
            table.writeAccumulators(2, 6, acc, 0);
            assertEquals(6f, table.accumulator(7), 0f);
            assertEquals(10f, table.accumulator(1), 0f);

            FloatBuffer src = direct(40);
            for (int i = 0; i < 40; i++) src.put(i, i * 2f);
            table.writeRows(0, 10, src, 0);
            try (HostEmbeddingTable copy = HostEmbeddingTable.allocate(new TableSpec("t", 10, 4), 64)) {
                copy.copyFrom(table);
                copy.readRow(6, row, 0);
                assertArrayEquals(new float[]{48, 50, 52, 54}, java.util.Arrays.copyOf(row, 4), 0f);
                assertEquals(6f, copy.accumulator(7), 0f);
            }
            IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class, () -> table.readRows(8, 3, all, 0));
            assertEquals("rows [8, 11) out of range for table t (10 rows)", e.getMessage());
        }
    }

    @Test
    void closeIsIdempotentAndRefusesUseAfterwards() {
        HostEmbeddingTable table = HostEmbeddingTable.allocate(new TableSpec("C3", 100, 8));
        table.close();
        table.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> table.readRow(0, new float[8], 0));
        assertEquals("embedding table C3 is closed", e.getMessage());
    }

    @Test
    void aModelThatDoesNotFitSaysWhatItNeedsWhatThereIsAndHowToFixIt() {
        ModelConfig kaggle = ModelConfig.kaggle("kaggle128", 2048, OptimizerKind.ROWWISE_ADAGRAD, Precision.FP32);
        long needed = HostMemory.requiredBytes(kaggle);
        assertEquals(33_762_577L * 129 * 4, needed);
        ConfigException direct = assertThrows(ConfigException.class,
                () -> HostMemory.check(kaggle, needed, 2L << 30, 1L << 20, 24L << 30));
        assertTrue(direct.getMessage().startsWith("the model's 26 embedding tables (33762577 rows x (128 weights + 1 accumulator) fp32) need "
                + "17,421,489,732 bytes (16.2 GiB) off the Java heap, but only 2,146,435,072 bytes (2.0 GiB) of direct memory is available"),
                direct.getMessage());
        assertTrue(direct.getMessage().contains("Fix: start the JVM with -XX:MaxDirectMemorySize=18g (this machine has"), direct.getMessage());
        ConfigException physical = assertThrows(ConfigException.class,
                () -> HostMemory.check(kaggle, needed, 64L << 30, 0, 8L << 30));
        assertTrue(physical.getMessage().contains("more than this machine's physical memory of 8,589,934,592 bytes (8.0 GiB). Fix: shrink the tables"),
                physical.getMessage());
        HostMemory.check(kaggle, needed, 20L << 30, 0, 24L << 30); // fits: no exception
        assertEquals(3L << 30, HostMemory.parseSize("3g"));
        assertEquals(512L << 20, HostMemory.parseSize("512M"));
        assertEquals(4096, HostMemory.parseSize("4096"));
    }

    @Test
    void touchedRowsAreRecordedPerTableAndDrainedSorted() {
        try (HostModelState state = HostModelState.initialize(SmallModels.config(1))) {
            state.markTouched(2, 49);
            state.markTouched(2, 3);
            state.markTouched(2, 49);
            state.markTouched(0, 0);
            int[][] rows = state.drainTouchedRows();
            assertArrayEquals(new int[]{0}, rows[0]);
            assertArrayEquals(new int[0], rows[1]);
            assertArrayEquals(new int[]{3, 49}, rows[2]);
            assertEquals(0, state.drainTouchedRows()[2].length);
            state.markAllTouched();
            assertEquals(50, state.drainTouchedRows()[2].length);
        }
    }

    @Test
    void initialisationIsAPureFunctionOfSeedTableAndRowWithTheReferenceDistributions() {
        ModelConfig config = new ModelConfig(List.of(new TableSpec("big", 200_000, 8), new TableSpec("small", 3, 8)), 13, 8,
                List.of(256, 8), List.of(64, 1), OptimizerSpec.of(OptimizerKind.ROWWISE_ADAGRAD, 0.1f),
                OptimizerSpec.of(OptimizerKind.ADAGRAD, 0.1f), 16, 99, Precision.FP32);
        try (HostModelState a = HostModelState.initialize(config); HostModelState b = HostModelState.initialize(config)) {
            float[] ra = new float[8];
            float[] rb = new float[8];
            double sum = 0;
            double sumSq = 0;
            double bound = Math.sqrt(1.0 / 200_000);
            for (int r = 0; r < 200_000; r++) {
                a.tables().get(0).readRow(r, ra, 0);
                b.tables().get(0).readRow(r, rb, 0);
                assertArrayEquals(ra, rb, 0f);
                for (float v : ra) {
                    assertTrue(Math.abs(v) <= bound, "U(-sqrt(1/n), sqrt(1/n)): " + v);
                    sum += v;
                    sumSq += v * (double) v;
                }
            }
            double n = 1.6e6;
            // U(-c, c): mean 0, variance c^2 / 3; 1.6M draws put the sample moments within 1% (many sigmas)
            assertEquals(0, sum / n / bound, 0.01);
            assertEquals(bound * bound / 3, sumSq / n, bound * bound / 3 * 0.01);
            // bottom.0 is 13 -> 256: weights N(0, sqrt(2 / 269)), 3,328 draws: sample std within 5%
            float[] w = a.dense().values();
            double s2 = 0;
            for (int i = 0; i < 13 * 256; i++) s2 += w[i] * (double) w[i];
            assertEquals(Math.sqrt(2.0 / 269), Math.sqrt(s2 / (13 * 256)), 0.05 * Math.sqrt(2.0 / 269));
            assertArrayEquals(a.dense().values(), b.dense().values(), 0f);
            ModelConfig otherSeed = new ModelConfig(config.tables(), 13, 8, config.bottomMlp(), config.topMlp(),
                    config.embeddingOptimizer(), config.denseOptimizer(), 16, 100, Precision.FP32);
            try (HostModelState c = HostModelState.initialize(otherSeed)) {
                c.tables().get(1).readRow(2, rb, 0);
                a.tables().get(1).readRow(2, ra, 0);
                assertTrue(ra[0] != rb[0], "another seed, another model");
            }
        }
    }

    private static FloatBuffer direct(int floats) {
        return ByteBuffer.allocateDirect(floats * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
    }
}
