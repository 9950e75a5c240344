package dev.freshet.trainer.cuda.internal;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The host's share of the GPU cache's copy-engine swap, without a GPU: evicted rows from a packed buffer
 * into chunked host tables and loaded rows from there into the return buffer, weights and accumulators,
 * over chunk boundaries, on one thread and on several. Seeded; values must arrive bit for bit.
 */
class HostRowMoverTest {
    private static final int DIM = 5;

    /** Host tables of {@code rows} rows in chunks of 7 rows (weights) and 11 rows (accumulators), filled from the truth. */
    private record Tables(RowChunks table, RowChunks accum, float[][] weights, float[] accums) {
        static Tables of(int rows, SplittableRandom r) {
            float[][] w = new float[rows][DIM];
            float[] a = new float[rows];
            for (int i = 0; i < rows; i++) {
                for (int d = 0; d < DIM; d++) w[i][d] = (float) r.nextDouble();
                a[i] = (float) r.nextDouble();
            }
            RowChunks table = chunks(rows, DIM, 7), accum = chunks(rows, 1, 11);
            for (int i = 0; i < rows; i++) {
                table.row(i).put(w[i]);
                accum.row(i).put(0, a[i]);
            }
            return new Tables(table, accum, w, a);
        }
    }

    private static RowChunks chunks(int rows, int dim, int rowsPerChunk) {
        ByteBuffer[] c = new ByteBuffer[(rows + rowsPerChunk - 1) / rowsPerChunk];
        for (int i = 0; i < c.length; i++) {
            int n = Math.min(rowsPerChunk, rows - i * rowsPerChunk);
            c[i] = ByteBuffer.allocate(n * dim * 4).order(ByteOrder.LITTLE_ENDIAN);
        }
        return new RowChunks(c, rows, dim, rowsPerChunk);
    }

    @Test
    void rowsOnBothSidesOfChunkBoundariesMoveBothWaysOnOneThread() {
        // evict 6 and 7 (a weight chunk boundary), 10 and 11 (an accumulator one) and the last row; an empty slot;
        // load rows at other boundaries
        check(50, new int[]{6, 7, -1, 10, 11, 49}, new int[]{13, 14, 21, 22, 0, 48}, 1);
    }

    @Test
    void manyRandomRowsMoveOnSeveralThreads() {
        SplittableRandom r = new SplittableRandom(42);
        int rows = 40_000, n = 12_300;
        // a random permutation: the first n rows are evicted (every 9th slot was empty), the next n loaded
        int[] perm = new int[rows];
        for (int i = 0; i < rows; i++) perm[i] = i;
        for (int i = rows - 1; i > 0; i--) {
            int j = r.nextInt(i + 1), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        int[] evict = new int[n], load = new int[n];
        for (int e = 0; e < n; e++) {
            evict[e] = e % 9 == 0 ? -1 : perm[e];
            load[e] = perm[n + e];
        }
        check(rows, evict, load, 3);
    }

    /** Both parts of a plan's move, in the order the cache runs them. */
    private static void move(HostRowMover mover, int n, ByteBuffer down, ByteBuffer up, RowChunks table, RowChunks accum) {
        mover.gather(n, down, up, table, accum);
        mover.writeBack(n, down, table, accum);
    }

    private static void check(int rows, int[] evict, int[] load, int threads) {
        SplittableRandom r = new SplittableRandom(rows * 31L + threads);
        Tables t = Tables.of(rows, r);
        int n = evict.length;
        ByteBuffer down = ByteBuffer.allocate((int) HostRowMover.downBytes(n, DIM, true)).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer up = ByteBuffer.allocate((int) HostRowMover.upBytes(n, DIM, true)).order(ByteOrder.LITTLE_ENDIAN);
        float[][] evicted = new float[n][DIM];
        float[] evictedAccum = new float[n];
        for (int e = 0; e < n; e++) {
            down.putInt(4 * e, evict[e]);
            down.putInt(4 * (n + e), load[e]);
            for (int d = 0; d < DIM; d++) {
                evicted[e][d] = (float) -r.nextDouble(); // the GPU's newer values: negative, unlike the host's
                down.putFloat(4 * (2 * n + e * DIM + d), evicted[e][d]);
            }
            evictedAccum[e] = (float) -r.nextDouble();
            down.putFloat(4 * (2 * n + n * DIM + e), evictedAccum[e]);
        }
        try (HostRowMover mover = new HostRowMover(threads)) {
            move(mover, n, down, up, t.table(), t.accum());
        }
        boolean[] written = new boolean[rows];
        for (int e = 0; e < n; e++) {
            int row = load[e];
            for (int d = 0; d < DIM; d++) {
                assertEquals(t.weights()[row][d], up.getFloat(4 * (e * DIM + d)), "entry " + e + ": loaded row " + row + " element " + d);
            }
            assertEquals(t.accums()[row], up.getFloat(4 * (n * DIM + e)), "entry " + e + ": loaded row " + row + " accumulator");
            if (evict[e] < 0) continue;
            written[evict[e]] = true;
            float[] got = new float[DIM];
            t.table().row(evict[e]).get(got);
            for (int d = 0; d < DIM; d++) assertEquals(evicted[e][d], got[d], "entry " + e + ": evicted row " + evict[e] + " element " + d);
            assertEquals(evictedAccum[e], t.accum().row(evict[e]).get(0), "entry " + e + ": evicted row " + evict[e] + " accumulator");
        }
        float[] got = new float[DIM];
        for (int row = 0; row < rows; row++) {
            if (written[row]) continue;
            t.table().row(row).get(got);
            for (int d = 0; d < DIM; d++) assertEquals(t.weights()[row][d], got[d], "row " + row + " was not evicted and must not change");
            assertEquals(t.accums()[row], t.accum().row(row).get(0), "row " + row + " accumulator");
        }
    }

    @Test
    void withoutAccumulatorsOnlyWeightsMove() {
        SplittableRandom r = new SplittableRandom(7);
        Tables t = Tables.of(20, r);
        ByteBuffer down = ByteBuffer.allocate((int) HostRowMover.downBytes(1, DIM, false)).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer up = ByteBuffer.allocate((int) HostRowMover.upBytes(1, DIM, false)).order(ByteOrder.LITTLE_ENDIAN);
        down.putInt(0, 3).putInt(4, 19);
        for (int d = 0; d < DIM; d++) down.putFloat(4 * (2 + d), 100 + d);
        try (HostRowMover mover = new HostRowMover(2)) {
            move(mover, 1, down, up, t.table(), null);
        }
        for (int d = 0; d < DIM; d++) {
            assertEquals(100 + d, t.table().row(3).get(d));
            assertEquals(t.weights()[19][d], up.getFloat(4 * d));
        }
        assertEquals(t.accums()[3], t.accum().row(3).get(0), "the accumulator stays");
    }

    @Test
    void aRowOutsideTheTableIsNamed() {
        Tables t = Tables.of(20, new SplittableRandom(3));
        ByteBuffer down = ByteBuffer.allocate((int) HostRowMover.downBytes(1, DIM, false)).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer up = ByteBuffer.allocate((int) HostRowMover.upBytes(1, DIM, false)).order(ByteOrder.LITTLE_ENDIAN);
        down.putInt(0, -1).putInt(4, 20);
        try (HostRowMover mover = new HostRowMover(1)) {
            IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class, () -> move(mover, 1, down, up, t.table(), null));
            assertTrue(e.getMessage().contains("row 20") && e.getMessage().contains("20 rows"), e.getMessage());
        }
    }

    @Test
    void chunksThatDoNotMatchTheRowsAreRefused() {
        ByteBuffer[] two = {ByteBuffer.allocate(7 * DIM * 4), ByteBuffer.allocate(7 * DIM * 4)};
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new RowChunks(two, 20, DIM, 7));
        assertTrue(e.getMessage().contains("need 3 chunks"), e.getMessage());
    }
}
