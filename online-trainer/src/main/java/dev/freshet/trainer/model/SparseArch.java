package dev.freshet.trainer.model;

import dev.freshet.trainer.EmbeddingTable;

import java.util.List;

/**
 * DLRM's embedding lookups: indices [B, T] (one row per table per example, as in Criteo) -> pooled
 * [B, T, D]. Pooling is a sum over each example's bag; with one ID per table the bag holds one row,
 * so the pooled vector is that row.
 *
 * <p>Backward turns dL/d(pooled) [B, T, D] into one gradient per distinct row and table: an ID that
 * appears several times in a batch gets the sum of its examples' gradients, added in ascending
 * example order (a stable radix sort groups the examples by row), so that the optimizer updates
 * each row once and the result does not depend on threads. Tables are processed in parallel.
 */
public final class SparseArch {
    private static final int RADIX_BITS = 11;

    private final List<EmbeddingTable> tables;
    private final int numTables;
    private final int dim;
    private final ParallelFor pool;
    private final float[][] pooled;
    /** Per table: (row << 32 | example), sorted by row; and the radix sort's scratch. */
    private final long[][] keys;
    private final long[][] scratch;
    private final int[][] counts;
    private final int[][] uniqueRows;
    private final int[] uniqueCount;
    private final float[][] rowGradients;

    private int[] indices;
    private float[][] pooledGradient;
    private int n;

    private final ParallelFor.RangeTask forwardTask = this::forwardRows;
    private final ParallelFor.RangeTask backwardTask = this::backwardTables;

    public SparseArch(List<EmbeddingTable> tables, int dim, int capacity, ParallelFor pool) {
        this.tables = List.copyOf(tables);
        this.numTables = tables.size();
        this.dim = dim;
        this.pool = pool;
        this.pooled = new float[capacity * numTables][dim];
        this.keys = new long[numTables][capacity];
        this.scratch = new long[numTables][capacity];
        this.counts = new int[numTables][1 << RADIX_BITS];
        this.uniqueRows = new int[numTables][capacity];
        this.uniqueCount = new int[numTables];
        this.rowGradients = new float[numTables][capacity * dim];
    }

    /** indices [n, T] (already checked against the table sizes) -> {@link #output()} [n, T, D]: row b * T + t. */
    public void forward(int[] sparseIndices, int count) {
        this.indices = sparseIndices;
        this.n = count;
        pool.run(count, forwardTask);
    }

    /** [B, T, D] as B * T rows of D: example b's table t at {@code b * T + t}. */
    public float[][] output() {
        return pooled;
    }

    /** dL/d(pooled) [n, T, D] (rows as {@link #output()}) -> per table, the distinct rows and their summed gradients. */
    public void backward(float[][] gradient) {
        this.pooledGradient = gradient;
        pool.run(numTables, backwardTask);
    }

    /** Distinct rows of table {@code t} in the last backward batch. */
    public int uniqueCount(int t) {
        return uniqueCount[t];
    }

    /** [uniqueCount(t)] distinct rows, ascending. */
    public int[] uniqueRows(int t) {
        return uniqueRows[t];
    }

    /** [uniqueCount(t), D]: the summed gradient of each distinct row, in {@link #uniqueRows} order. */
    public float[] rowGradients(int t) {
        return rowGradients[t];
    }

    private void forwardRows(int from, int to) {
        for (int b = from; b < to; b++) {
            for (int t = 0; t < numTables; t++) {
                tables.get(t).readRow(indices[b * numTables + t], pooled[b * numTables + t], 0);
            }
        }
    }

    private void backwardTables(int from, int to) {
        for (int t = from; t < to; t++) {
            long[] k = keys[t];
            for (int b = 0; b < n; b++) {
                k[b] = ((long) indices[b * numTables + t] << 32) | b;
            }
            long[] sorted = sortByRow(k, scratch[t], counts[t], n, tables.get(t).spec().rows());
            int[] rows = uniqueRows[t];
            float[] g = rowGradients[t];
            int u = -1;
            int previous = -1;
            for (int s = 0; s < n; s++) {
                int row = (int) (sorted[s] >>> 32);
                int b = (int) sorted[s];
                float[] src = pooledGradient[b * numTables + t];
                if (row != previous) {
                    u++;
                    rows[u] = row;
                    previous = row;
                    System.arraycopy(src, 0, g, u * dim, dim);
                } else {
                    int dst = u * dim;
                    for (int d = 0; d < dim; d++) {
                        g[dst + d] += src[d];
                    }
                }
            }
            uniqueCount[t] = u + 1;
        }
    }

    /**
     * Stable LSD radix sort of {@code keys[0, n)} by their upper 32 bits (the row), 11 bits a pass; the
     * examples of one row keep their ascending order. Returns whichever array holds the result.
     */
    static long[] sortByRow(long[] keys, long[] tmp, int[] count, int n, long rows) {
        int bits = 64 - Long.numberOfLeadingZeros(Math.max(1, rows - 1));
        long[] src = keys;
        long[] dst = tmp;
        for (int shift = 0; shift < bits; shift += RADIX_BITS) {
            java.util.Arrays.fill(count, 0);
            int mask = (1 << RADIX_BITS) - 1;
            for (int i = 0; i < n; i++) {
                count[(int) (src[i] >>> (32 + shift)) & mask]++;
            }
            int sum = 0;
            for (int d = 0; d < count.length; d++) {
                int c = count[d];
                count[d] = sum;
                sum += c;
            }
            for (int i = 0; i < n; i++) {
                long key = src[i];
                dst[count[(int) (key >>> (32 + shift)) & mask]++] = key;
            }
            long[] swap = src;
            src = dst;
            dst = swap;
        }
        return src;
    }
}
