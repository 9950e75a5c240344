package dev.freshet.serving.internal;

import dev.freshet.trainer.DenseParameters;
import dev.freshet.trainer.EmbeddingTable;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.TableSpec;

import java.util.ArrayList;
import java.util.List;

/**
 * A {@link ModelState} that the trainer's {@code ModelFiles} reader fills directly into serving's paged
 * tables, so a FULL snapshot is read once, in the trainer's own format, without a second copy in host
 * memory. Serving keeps no optimizer state: accumulators are dropped on the way in.
 */
public final class LoadTarget implements ModelState {
    private final ModelConfig config;
    private final PagedTable[] pagedTables;
    private final List<EmbeddingTable> tables = new ArrayList<>();
    private final DenseParameters dense;

    public LoadTarget(ModelConfig config) {
        this.config = config;
        this.pagedTables = new PagedTable[config.numTables()];
        for (int t = 0; t < pagedTables.length; t++) {
            TableSpec spec = config.tables().get(t);
            PagedTable table = PagedTable.allocate((int) spec.rows(), spec.dim());
            pagedTables[t] = table;
            tables.add(new EmbeddingTable() {
                @Override
                public TableSpec spec() {
                    return spec;
                }

                @Override
                public void readRow(int row, float[] dst, int offset) {
                    table.readRow(row, dst, offset);
                }

                @Override
                public void writeRow(int row, float[] src, int offset) {
                    table.writeRowInPlace(row, src, offset);
                }

                @Override
                public float accumulator(int row) {
                    return 0f;
                }

                @Override
                public void setAccumulator(int row, float value) {
                }

                @Override
                public void close() {
                }
            });
        }
        this.dense = new DenseParameters(config);
    }

    public PagedTable[] pagedTables() {
        return pagedTables.clone();
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public List<EmbeddingTable> tables() {
        return tables;
    }

    @Override
    public DenseParameters dense() {
        return dense;
    }

    @Override
    public void markTouched(int table, int row) {
    }

    @Override
    public int[][] drainTouchedRows() {
        return new int[config.numTables()][];
    }

    @Override
    public void close() {
    }
}
