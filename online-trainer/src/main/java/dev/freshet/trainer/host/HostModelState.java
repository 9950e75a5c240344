package dev.freshet.trainer.host;

import dev.freshet.trainer.DenseParameters;
import dev.freshet.trainer.EmbeddingTable;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.TableSpec;
import dev.freshet.trainer.model.Initializer;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.stream.IntStream;

/**
 * A model in host memory: {@link HostEmbeddingTable}s off-heap, dense weights in a {@link DenseParameters},
 * and one bitset per table recording the rows changed since the last {@link #drainTouchedRows()}.
 * Owns its tables: {@link #close()} frees them.
 */
public final class HostModelState implements ModelState {
    /** Rows initialised per parallel task. */
    private static final int INIT_BLOCK_ROWS = 1 << 16;

    private final ModelConfig config;
    private final List<EmbeddingTable> tables;
    private final DenseParameters dense;
    private final long[][] touched;
    private boolean closed;

    private HostModelState(ModelConfig config, List<EmbeddingTable> tables) {
        this.config = config;
        this.tables = Collections.unmodifiableList(tables);
        this.dense = new DenseParameters(config);
        this.touched = new long[tables.size()][];
        for (int t = 0; t < tables.size(); t++) {
            touched[t] = new long[(int) ((tables.get(t).spec().rows() + 63) >>> 6)];
        }
    }

    /**
     * A freshly initialised model ({@link Initializer}: a pure function of the config's seed, so the
     * same on every machine); optimizer state at its initial values. Checks the size first
     * ({@link HostMemory#check}). Tables are initialised in parallel on the common fork-join pool.
     */
    public static HostModelState initialize(ModelConfig config) {
        HostModelState state = allocate(config);
        Initializer.dense(config.seed(), state.dense);
        record Block(int table, int firstRow, int rows) {
        }
        List<Block> blocks = new ArrayList<>();
        for (int t = 0; t < state.tables.size(); t++) {
            int rows = (int) state.tables.get(t).spec().rows();
            for (int r = 0; r < rows; r += INIT_BLOCK_ROWS) {
                blocks.add(new Block(t, r, Math.min(INIT_BLOCK_ROWS, rows - r)));
            }
        }
        IntStream.range(0, blocks.size()).parallel().forEach(i -> {
            Block b = blocks.get(i);
            EmbeddingTable table = state.tables.get(b.table());
            TableSpec spec = table.spec();
            float[] row = new float[spec.dim()];
            for (int r = b.firstRow(); r < b.firstRow() + b.rows(); r++) {
                Initializer.embeddingRow(config.seed(), b.table(), spec.rows(), r, row, 0, spec.dim());
                table.writeRow(r, row, 0);
            }
        });
        return state;
    }

    /**
     * A model with every weight 0 and optimizer state at its initial values, e.g. to load a checkpoint
     * into. Checks the size first ({@link HostMemory#check}).
     */
    public static HostModelState allocate(ModelConfig config) {
        Objects.requireNonNull(config, "config");
        HostMemory.check(config);
        List<EmbeddingTable> tables = new ArrayList<>();
        try {
            float initialAccumulator = config.embeddingOptimizer().initialAccumulator();
            for (TableSpec spec : config.tables()) {
                HostEmbeddingTable table = HostEmbeddingTable.allocate(spec);
                tables.add(table);
                if (initialAccumulator != 0f) table.fillAccumulators(initialAccumulator);
            }
        } catch (RuntimeException | Error e) {
            tables.forEach(EmbeddingTable::close);
            throw e;
        }
        return new HostModelState(config, tables);
    }

    /** A deep copy of {@code source} (weights, optimizer state; not the touched rows). */
    public static HostModelState copyOf(ModelState source) {
        HostModelState copy = allocate(source.config());
        copy.copyFrom(source);
        return copy;
    }

    /** Overwrites every weight and all optimizer state with {@code source}'s; the touched record is left as it is. */
    public void copyFrom(ModelState source) {
        checkOpen();
        if (!source.config().equals(config)) {
            throw new IllegalArgumentException("cannot load a model of another config: " + source.config() + " into " + config);
        }
        for (int t = 0; t < tables.size(); t++) {
            tables.get(t).copyFrom(source.tables().get(t));
        }
        source.dense().copyInto(dense);
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public List<EmbeddingTable> tables() {
        checkOpen();
        return tables;
    }

    @Override
    public DenseParameters dense() {
        return dense;
    }

    @Override
    public void markTouched(int table, int row) {
        touched[table][row >>> 6] |= 1L << row;
    }

    /** Marks every row of every table as touched (after a load, everything may have changed). */
    public void markAllTouched() {
        for (int t = 0; t < touched.length; t++) {
            long rows = tables.get(t).spec().rows();
            java.util.Arrays.fill(touched[t], -1L);
            int tail = (int) (rows & 63);
            if (tail != 0) touched[t][touched[t].length - 1] = (1L << tail) - 1;
        }
    }

    @Override
    public int[][] drainTouchedRows() {
        int[][] result = new int[touched.length][];
        for (int t = 0; t < touched.length; t++) {
            long[] words = touched[t];
            int count = 0;
            for (long w : words) count += Long.bitCount(w);
            int[] rows = new int[count];
            int i = 0;
            for (int w = 0; w < words.length; w++) {
                long bits = words[w];
                while (bits != 0) {
                    rows[i++] = (w << 6) + Long.numberOfTrailingZeros(bits);
                    bits &= bits - 1;
                }
                words[w] = 0;
            }
            result[t] = rows;
        }
        return result;
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        tables.forEach(EmbeddingTable::close);
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("model state is closed");
    }
}
