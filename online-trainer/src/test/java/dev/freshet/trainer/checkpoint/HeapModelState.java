package dev.freshet.trainer.checkpoint;

import dev.freshet.trainer.DenseParameters;
import dev.freshet.trainer.EmbeddingTable;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.TableSpec;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Random;

/** A small on-heap ModelState for format and loop tests: filled with seeded noise so that round trips can fail. */
public final class HeapModelState implements ModelState {
    private final ModelConfig config;
    private final List<EmbeddingTable> tables = new ArrayList<>();
    private final DenseParameters dense;
    private final BitSet[] touched;

    public HeapModelState(ModelConfig config) {
        this.config = config;
        for (TableSpec spec : config.tables()) tables.add(new HeapTable(spec));
        this.dense = new DenseParameters(config);
        this.touched = new BitSet[config.numTables()];
        for (int i = 0; i < touched.length; i++) touched[i] = new BitSet();
    }

    /** Fills every weight and optimizer slot with seeded values. */
    public HeapModelState randomize(long seed) {
        Random r = new Random(seed);
        for (EmbeddingTable t : tables) {
            float[] row = new float[t.spec().dim()];
            for (int i = 0; i < t.spec().rows(); i++) {
                for (int d = 0; d < row.length; d++) row[d] = (float) r.nextGaussian();
                t.writeRow(i, row, 0);
                t.setAccumulator(i, r.nextFloat());
            }
        }
        for (int i = 0; i < dense.values().length; i++) dense.values()[i] = (float) r.nextGaussian();
        for (int i = 0; i < dense.slot1().length; i++) dense.slot1()[i] = r.nextFloat();
        for (int i = 0; i < dense.slot2().length; i++) dense.slot2()[i] = r.nextFloat();
        dense.setStep(r.nextInt(1000));
        return this;
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
        touched[table].set(row);
    }

    @Override
    public int[][] drainTouchedRows() {
        int[][] out = new int[touched.length][];
        for (int i = 0; i < touched.length; i++) {
            out[i] = touched[i].stream().toArray();
            touched[i].clear();
        }
        return out;
    }

    @Override
    public void close() {
    }

    private static final class HeapTable implements EmbeddingTable {
        private final TableSpec spec;
        private final float[] weights;
        private final float[] accumulators;

        HeapTable(TableSpec spec) {
            this.spec = spec;
            this.weights = new float[(int) spec.rows() * spec.dim()];
            this.accumulators = new float[(int) spec.rows()];
        }

        @Override
        public TableSpec spec() {
            return spec;
        }

        @Override
        public void readRow(int row, float[] dst, int offset) {
            System.arraycopy(weights, row * spec.dim(), dst, offset, spec.dim());
        }

        @Override
        public void writeRow(int row, float[] src, int offset) {
            System.arraycopy(src, offset, weights, row * spec.dim(), spec.dim());
        }

        @Override
        public float accumulator(int row) {
            return accumulators[row];
        }

        @Override
        public void setAccumulator(int row, float value) {
            accumulators[row] = value;
        }

        @Override
        public void close() {
        }
    }
}
