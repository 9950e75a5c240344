package dev.freshet.trainer;

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

    /** Frees the memory; idempotent. Using the table afterwards throws. */
    @Override
    void close();
}
