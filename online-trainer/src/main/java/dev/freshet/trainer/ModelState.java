package dev.freshet.trainer;

import java.util.List;

/**
 * The complete trainable state of one DLRM model in host memory: the type the trainer writes and the
 * serving side reads (STYLE 7). Embedding tables live off-heap; dense weights in one flat array.
 * It also tracks which embedding rows changed since the last {@link #drainTouchedRows()}, for DELTA
 * model updates.
 */
public interface ModelState extends AutoCloseable {
    ModelConfig config();

    /** One per categorical feature, in layout order. */
    List<EmbeddingTable> tables();

    DenseParameters dense();

    /** Marks rows as changed; backends call it for every row they update. */
    void markTouched(int table, int row);

    /**
     * The rows changed since the previous call, per table, sorted ascending, and resets the record.
     */
    int[][] drainTouchedRows();

    @Override
    void close();
}
