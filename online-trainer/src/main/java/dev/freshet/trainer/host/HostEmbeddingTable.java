package dev.freshet.trainer.host;

import dev.freshet.trainer.EmbeddingTable;
import dev.freshet.trainer.TableSpec;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Objects;

/**
 * An embedding table in direct (off-heap) memory: weights [rows, dim] fp32 row-major, plus one fp32
 * row-wise optimizer accumulator per row. A Java buffer holds at most 2 GiB, so the rows are split
 * into chunks of 2^k rows (at most 1 GiB of weights each); a row never straddles two chunks, so a
 * row is one bulk copy. Native byte order, so that the bulk paths ({@link #gatherRows},
 * {@link #readRows}, ...) are plain memory copies into the direct buffers a GPU transfer or a file
 * channel uses.
 *
 * <p>Not synchronised: distinct rows may be read and written from different threads, the same row
 * not. {@link #close()} frees the memory at once (rather than when the GC finds the buffers).
 */
public final class HostEmbeddingTable implements EmbeddingTable {
    /** Largest weight chunk: one buffer may not exceed 2 GiB; 1 GiB keeps the arithmetic in ints. */
    static final long MAX_CHUNK_BYTES = 1L << 30;

    private final TableSpec spec;
    private final int dim;
    private final int rows;
    private final int chunkShift;
    private final int chunkMask;
    private ByteBuffer[] weightBytes;
    private ByteBuffer[] accumulatorBytes;
    private FloatBuffer[] weights;
    private FloatBuffer[] accumulators;

    private HostEmbeddingTable(TableSpec spec, long maxChunkBytes) {
        this.spec = spec;
        this.dim = spec.dim();
        this.rows = (int) spec.rows();
        long rowsPerChunk = Long.highestOneBit(Math.max(1, maxChunkBytes / ((long) dim * Float.BYTES)));
        this.chunkShift = Long.numberOfTrailingZeros(rowsPerChunk);
        this.chunkMask = (int) rowsPerChunk - 1;
        int chunks = (int) ((rows + rowsPerChunk - 1) / rowsPerChunk);
        this.weightBytes = new ByteBuffer[chunks];
        this.accumulatorBytes = new ByteBuffer[chunks];
        this.weights = new FloatBuffer[chunks];
        this.accumulators = new FloatBuffer[chunks];
        try {
            for (int c = 0; c < chunks; c++) {
                int chunkRows = (int) Math.min(rowsPerChunk, rows - c * rowsPerChunk);
                weightBytes[c] = ByteBuffer.allocateDirect(chunkRows * dim * Float.BYTES).order(ByteOrder.nativeOrder());
                accumulatorBytes[c] = ByteBuffer.allocateDirect(chunkRows * Float.BYTES).order(ByteOrder.nativeOrder());
                weights[c] = weightBytes[c].asFloatBuffer();
                accumulators[c] = accumulatorBytes[c].asFloatBuffer();
            }
        } catch (OutOfMemoryError e) {
            close();
            throw new OutOfMemoryError("could not allocate embedding table " + spec.name() + " (" + spec.rows() + " rows x "
                    + dim + ", " + spec.hostBytes() + " bytes) off the heap: " + e.getMessage()
                    + ". Fix: raise -XX:MaxDirectMemorySize or shrink the table (see HostMemory.check)");
        }
    }

    /** A zeroed table (weights and accumulators 0). Callers check the total size first: {@link HostMemory#check}. */
    public static HostEmbeddingTable allocate(TableSpec spec) {
        return new HostEmbeddingTable(Objects.requireNonNull(spec, "spec"), MAX_CHUNK_BYTES);
    }

    /** With smaller chunks, so that tests cross chunk boundaries without allocating gigabytes. */
    static HostEmbeddingTable allocate(TableSpec spec, long maxChunkBytes) {
        return new HostEmbeddingTable(Objects.requireNonNull(spec, "spec"), maxChunkBytes);
    }

    @Override
    public TableSpec spec() {
        return spec;
    }

    @Override
    public void readRow(int row, float[] dst, int offset) {
        open(weights)[row >>> chunkShift].get((row & chunkMask) * dim, dst, offset, dim);
    }

    @Override
    public void writeRow(int row, float[] src, int offset) {
        open(weights)[row >>> chunkShift].put((row & chunkMask) * dim, src, offset, dim);
    }

    @Override
    public float accumulator(int row) {
        return open(accumulators)[row >>> chunkShift].get(row & chunkMask);
    }

    @Override
    public void setAccumulator(int row, float value) {
        open(accumulators)[row >>> chunkShift].put(row & chunkMask, value);
    }

    @Override
    public void gatherRows(int[] rowIds, int from, int count, FloatBuffer dst, int dstIndex) {
        FloatBuffer[] w = open(weights);
        for (int i = 0; i < count; i++) {
            int row = rowIds[from + i];
            dst.put(dstIndex + i * dim, w[row >>> chunkShift], (row & chunkMask) * dim, dim);
        }
    }

    @Override
    public void scatterRows(int[] rowIds, int from, int count, FloatBuffer src, int srcIndex) {
        FloatBuffer[] w = open(weights);
        for (int i = 0; i < count; i++) {
            int row = rowIds[from + i];
            w[row >>> chunkShift].put((row & chunkMask) * dim, src, srcIndex + i * dim, dim);
        }
    }

    @Override
    public void readRows(int firstRow, int count, FloatBuffer dst, int dstIndex) {
        forEachRun(open(weights), firstRow, count, (chunk, at, done, n) -> dst.put(dstIndex + done * dim, chunk, at * dim, n * dim));
    }

    @Override
    public void writeRows(int firstRow, int count, FloatBuffer src, int srcIndex) {
        forEachRun(open(weights), firstRow, count, (chunk, at, done, n) -> chunk.put(at * dim, src, srcIndex + done * dim, n * dim));
    }

    @Override
    public void readAccumulators(int firstRow, int count, FloatBuffer dst, int dstIndex) {
        forEachRun(open(accumulators), firstRow, count, (chunk, at, done, n) -> dst.put(dstIndex + done, chunk, at, n));
    }

    @Override
    public void writeAccumulators(int firstRow, int count, FloatBuffer src, int srcIndex) {
        forEachRun(open(accumulators), firstRow, count, (chunk, at, done, n) -> chunk.put(at, src, srcIndex + done, n));
    }

    /** Rows {@code [at, at + n)} of {@code chunk} are rows {@code [done, done + n)} of a range copy. */
    private interface ChunkRun {
        void copy(FloatBuffer chunk, int at, int done, int n);
    }

    /** Splits rows {@code [firstRow, firstRow + count)} at chunk boundaries and hands each run to {@code run}. */
    private void forEachRun(FloatBuffer[] chunks, int firstRow, int count, ChunkRun run) {
        checkRange(firstRow, count);
        int done = 0;
        while (done < count) {
            int row = firstRow + done;
            int n = Math.min(count - done, chunkMask + 1 - (row & chunkMask));
            run.copy(chunks[row >>> chunkShift], row & chunkMask, done, n);
            done += n;
        }
    }

    @Override
    public void copyFrom(EmbeddingTable source) {
        if (!(source instanceof HostEmbeddingTable other)) {
            EmbeddingTable.super.copyFrom(source);
            return;
        }
        if (other.rows != rows || other.dim != dim) {
            throw new IllegalArgumentException("cannot copy table " + other.spec + " into " + spec + ": shapes differ");
        }
        FloatBuffer[] w = open(weights);
        FloatBuffer[] a = open(accumulators);
        FloatBuffer[] ow = open(other.weights);
        FloatBuffer[] oa = open(other.accumulators);
        for (int c = 0; c < w.length; c++) {
            w[c].put(0, ow[c], 0, ow[c].capacity());
            a[c].put(0, oa[c], 0, oa[c].capacity());
        }
    }

    /** Sets every accumulator to {@code value}. */
    public void fillAccumulators(float value) {
        for (FloatBuffer a : open(accumulators)) {
            for (int i = 0; i < a.capacity(); i++) a.put(i, value);
        }
    }

    @Override
    public void close() {
        ByteBuffer[] w = weightBytes;
        ByteBuffer[] a = accumulatorBytes;
        weights = null;
        accumulators = null;
        weightBytes = null;
        accumulatorBytes = null;
        if (w != null) DirectBuffers.free(w);
        if (a != null) DirectBuffers.free(a);
    }

    private void checkRange(int firstRow, int count) {
        if (firstRow < 0 || count < 0 || (long) firstRow + count > rows) {
            throw new IndexOutOfBoundsException("rows [" + firstRow + ", " + ((long) firstRow + count) + ") out of range for table "
                    + spec.name() + " (" + rows + " rows)");
        }
    }

    private <T> T open(T buffers) {
        if (buffers == null) {
            throw new IllegalStateException("embedding table " + spec.name() + " is closed");
        }
        return buffers;
    }
}
