package dev.freshet.trainer;

import java.nio.FloatBuffer;

/**
 * One embedding table in host memory, off the Java heap (tables may be far larger than the heap and
 * than GPU memory): {@code rows x dim} fp32 weights plus one fp32 row-wise optimizer accumulator per row.
 * Implementations are not synchronised: one trainer owns a table and its backend decides the threading.
 */
public interface EmbeddingTable extends AutoCloseable {
    TableSpec spec();

    /** Copies row {@code row} into {@code dst[offset, offset + dim)}. */
    void readRow(int row, float[] dst, int offset);

    /** Overwrites row {@code row} from {@code src[offset, offset + dim)}. */
    void writeRow(int row, float[] src, int offset);

    float accumulator(int row);

    void setAccumulator(int row, float value);

    /**
     * Bulk copy for host-device transfers and checkpoints: rows {@code rows[from, from + count)} to
     * {@code dst} from float index {@code dstIndex}, row after row ({@code count x dim} floats). The
     * default goes row by row; off-heap implementations copy memory directly.
     */
    default void gatherRows(int[] rows, int from, int count, FloatBuffer dst, int dstIndex) {
        int dim = spec().dim();
        float[] row = new float[dim];
        for (int i = 0; i < count; i++) {
            readRow(rows[from + i], row, 0);
            dst.put(dstIndex + i * dim, row, 0, dim);
        }
    }

    /** The inverse of {@link #gatherRows}: overwrites rows {@code rows[from, from + count)} from {@code src}. */
    default void scatterRows(int[] rows, int from, int count, FloatBuffer src, int srcIndex) {
        int dim = spec().dim();
        float[] row = new float[dim];
        for (int i = 0; i < count; i++) {
            src.get(srcIndex + i * dim, row, 0, dim);
            writeRow(rows[from + i], row, 0);
        }
    }

    /** Copies the contiguous rows {@code [firstRow, firstRow + count)} to {@code dst} from float index {@code dstIndex}. */
    default void readRows(int firstRow, int count, FloatBuffer dst, int dstIndex) {
        int dim = spec().dim();
        float[] row = new float[dim];
        for (int i = 0; i < count; i++) {
            readRow(firstRow + i, row, 0);
            dst.put(dstIndex + i * dim, row, 0, dim);
        }
    }

    /** Overwrites the contiguous rows {@code [firstRow, firstRow + count)} from {@code src}. */
    default void writeRows(int firstRow, int count, FloatBuffer src, int srcIndex) {
        int dim = spec().dim();
        float[] row = new float[dim];
        for (int i = 0; i < count; i++) {
            src.get(srcIndex + i * dim, row, 0, dim);
            writeRow(firstRow + i, row, 0);
        }
    }

    /** Copies the accumulators of rows {@code [firstRow, firstRow + count)} to {@code dst[dstIndex, dstIndex + count)}. */
    default void readAccumulators(int firstRow, int count, FloatBuffer dst, int dstIndex) {
        for (int i = 0; i < count; i++) {
            dst.put(dstIndex + i, accumulator(firstRow + i));
        }
    }

    /** Overwrites the accumulators of rows {@code [firstRow, firstRow + count)} from {@code src[srcIndex, srcIndex + count)}. */
    default void writeAccumulators(int firstRow, int count, FloatBuffer src, int srcIndex) {
        for (int i = 0; i < count; i++) {
            setAccumulator(firstRow + i, src.get(srcIndex + i));
        }
    }

    /** Overwrites every weight and accumulator with {@code source}'s (same rows and dim). */
    default void copyFrom(EmbeddingTable source) {
        if (source.spec().rows() != spec().rows() || source.spec().dim() != spec().dim()) {
            throw new IllegalArgumentException("cannot copy table " + source.spec() + " into " + spec() + ": shapes differ");
        }
        int dim = spec().dim();
        float[] row = new float[dim];
        for (int r = 0; r < spec().rows(); r++) {
            source.readRow(r, row, 0);
            writeRow(r, row, 0);
            setAccumulator(r, source.accumulator(r));
        }
    }

    /** Frees the memory; idempotent. Using the table afterwards throws. */
    @Override
    void close();
}
