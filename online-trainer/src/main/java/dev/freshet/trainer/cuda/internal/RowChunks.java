package dev.freshet.trainer.cuda.internal;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * The host's view of a {@link HostRowStore}: rows of {@code dim} floats in chunks of {@code rowsPerChunk}
 * rows (row r in chunk r / rowsPerChunk), and bulk copies of listed rows between the chunks and a packed
 * buffer (entry i of a list at {@code i * dim} floats), which the GPU cache's copy-engine swap uses. Plain
 * Java over ByteBuffers, so that it is tested without a GPU. Only absolute ByteBuffer operations: threads
 * may copy disjoint rows through one instance at once.
 */
final class RowChunks {
    private final ByteBuffer[] chunks;
    private final long rows;
    private final int dim;
    private final int rowBytes;
    private final long rowsPerChunk;

    /** {@code chunks[c]} holds rows [c * rowsPerChunk, min(rows, (c + 1) * rowsPerChunk)), little-endian floats. */
    RowChunks(ByteBuffer[] chunks, long rows, int dim, long rowsPerChunk) {
        this.rows = rows;
        this.dim = dim;
        this.rowBytes = dim * Float.BYTES;
        this.rowsPerChunk = rowsPerChunk;
        long needed = (rows + rowsPerChunk - 1) / rowsPerChunk;
        if (chunks.length != needed) {
            throw new IllegalArgumentException(rows + " rows in chunks of " + rowsPerChunk + " need " + needed + " chunks, got " + chunks.length);
        }
        for (int c = 0; c < chunks.length; c++) {
            long want = Math.min(rowsPerChunk, rows - c * rowsPerChunk) * rowBytes;
            if (chunks[c].capacity() < want) {
                throw new IllegalArgumentException("chunk " + c + " holds " + chunks[c].capacity() + " bytes, its rows need " + want);
            }
        }
        this.chunks = chunks.clone();
    }

    int dim() {
        return dim;
    }

    /** A little-endian view of row {@code r}. */
    FloatBuffer row(long r) {
        checkRow(r);
        return chunks[(int) (r / rowsPerChunk)].slice(offsetInChunk(r), rowBytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    }

    /**
     * For each entry i in [from, to) whose row {@code list.getInt(listOffset + 4i)} is not negative: copies
     * entry i of {@code packed} (at byte {@code packedOffset + i * dim * 4}) into that row.
     */
    void scatter(ByteBuffer packed, int packedOffset, ByteBuffer list, int listOffset, int from, int to) {
        for (int i = from; i < to; i++) {
            int r = list.getInt(listOffset + 4 * i);
            if (r < 0) continue;
            checkRow(r);
            chunks[(int) (r / rowsPerChunk)].put(offsetInChunk(r), packed, packedOffset + i * rowBytes, rowBytes);
        }
    }

    /** The reverse of {@link #scatter}: each listed row into entry i of {@code packed}; entries of negative rows are left as they are. */
    void gather(ByteBuffer packed, int packedOffset, ByteBuffer list, int listOffset, int from, int to) {
        for (int i = from; i < to; i++) {
            int r = list.getInt(listOffset + 4 * i);
            if (r < 0) continue;
            checkRow(r);
            packed.put(packedOffset + i * rowBytes, chunks[(int) (r / rowsPerChunk)], offsetInChunk(r), rowBytes);
        }
    }

    private int offsetInChunk(long r) {
        return (int) ((r % rowsPerChunk) * rowBytes);
    }

    private void checkRow(long r) {
        if (r < 0 || r >= rows) throw new IndexOutOfBoundsException("row " + r + " outside the " + rows + " rows of the host table");
    }
}
