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
    /**
     * Copies run in groups of {@value #GROUP} entries: first one read of each row of the group, then the copies.
     * A row of a table far larger than the CPU caches costs a memory round trip (~300 ns with its page walk);
     * copied one after the other, a thread has one in flight, while independent reads overlap (about 3 times
     * faster on the H200's host for kaggle16's 64-byte rows).
     */
    private static final int GROUP = 16;
    /**
     * Where the groups' reads go, once per call, so that the JIT keeps them (threads write it without order:
     * nothing reads it; written per group, it was one cache line that every copying thread fought over).
     */
    private long touched;

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
        copy(true, packed, packedOffset, list, listOffset, from, to);
    }

    /** The reverse of {@link #scatter}: each listed row into entry i of {@code packed}; entries of negative rows are left as they are. */
    void gather(ByteBuffer packed, int packedOffset, ByteBuffer list, int listOffset, int from, int to) {
        copy(false, packed, packedOffset, list, listOffset, from, to);
    }

    private void copy(boolean intoRows, ByteBuffer packed, int packedOffset, ByteBuffer list, int listOffset, int from, int to) {
        long sum = 0;
        for (int g = from; g < to; g += GROUP) {
            int end = Math.min(to, g + GROUP);
            sum += touch(list, listOffset, g, end);
            for (int i = g; i < end; i++) {
                int r = list.getInt(listOffset + 4 * i);
                if (r < 0) continue;
                ByteBuffer chunk = chunks[(int) (r / rowsPerChunk)];
                if (intoRows) chunk.put(offsetInChunk(r), packed, packedOffset + i * rowBytes, rowBytes);
                else packed.put(packedOffset + i * rowBytes, chunk, offsetInChunk(r), rowBytes);
            }
        }
        touched = sum;
    }

    /** Checks the listed rows of entries [from, to) and reads a byte of each, so that their cache misses overlap. */
    private long touch(ByteBuffer list, int listOffset, int from, int to) {
        long sum = 0;
        for (int i = from; i < to; i++) {
            int r = list.getInt(listOffset + 4 * i);
            if (r < 0) continue;
            checkRow(r);
            sum += chunks[(int) (r / rowsPerChunk)].get(offsetInChunk(r));
        }
        return sum;
    }

    private int offsetInChunk(long r) {
        return (int) ((r % rowsPerChunk) * rowBytes);
    }

    private void checkRow(long r) {
        if (r < 0 || r >= rows) throw new IndexOutOfBoundsException("row " + r + " outside the " + rows + " rows of the host table");
    }
}
