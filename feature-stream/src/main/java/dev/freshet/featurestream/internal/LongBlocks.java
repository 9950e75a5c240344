package dev.freshet.featurestream.internal;

import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Long arrays to and from Flink's data views in blocks of bytes, for the state serializers that write
 * large arrays at every checkpoint ({@link SeenIdsSerializer}, {@link PartialIdStatsSerializer}): Flink's
 * own array serializer writes each long with its own call through several stream wrappers.
 *
 * <p>Two layouts: {@link #write} eight bytes a long, for values that fill them (id hashes); {@link #writePacked}
 * a variable-length code (7 bits a byte, zigzag for the sign) in chunks that each say their byte count, for
 * small counts. Size matters beyond the copy: Flink 2.1's checkpoint streams
 * ({@code CompressibleFSDataOutputStream}) take a block write one byte at a time through three calls, about
 * 4 ns a byte, so every byte left out of a checkpoint saves that.
 */
final class LongBlocks {
    /** Longs per block written or read at once: 32 KiB, reused per thread. */
    private static final int BLOCK = 4096;
    private static final ThreadLocal<ByteBuffer> BLOCKS = ThreadLocal.withInitial(() -> ByteBuffer.allocate(BLOCK * Long.BYTES));
    /** Longest code of one long: 64 bits, 7 a byte. */
    private static final int MAX_CODE = 10;
    private static final ThreadLocal<byte[]> PACKED = ThreadLocal.withInitial(() -> new byte[BLOCK * MAX_CODE]);

    private LongBlocks() {
    }

    static void write(long[] values, DataOutputView target) throws IOException {
        write(values, values.length, target);
    }

    /** Writes the first {@code length} values, eight bytes each. */
    static void write(long[] values, int length, DataOutputView target) throws IOException {
        ByteBuffer block = BLOCKS.get();
        for (int from = 0; from < length; from += BLOCK) {
            int n = Math.min(BLOCK, length - from);
            block.clear();
            block.asLongBuffer().put(values, from, n);
            target.write(block.array(), 0, n * Long.BYTES);
        }
    }

    static long[] read(int count, DataInputView source) throws IOException {
        long[] values = new long[count];
        ByteBuffer block = BLOCKS.get();
        for (int from = 0; from < count; from += BLOCK) {
            int n = Math.min(BLOCK, count - from);
            source.readFully(block.array(), 0, n * Long.BYTES);
            block.clear();
            block.asLongBuffer().get(values, from, n);
        }
        return values;
    }

    /** Writes {@code values} packed: per chunk of up to {@value #BLOCK} longs, its byte count (int), then their codes. */
    static void writePacked(long[] values, DataOutputView target) throws IOException {
        writePacked(values, values.length, target);
    }

    /** Writes the first {@code length} values packed, as {@link #writePacked(long[], DataOutputView)}. */
    static void writePacked(long[] values, int length, DataOutputView target) throws IOException {
        byte[] block = PACKED.get();
        for (int from = 0; from < length; from += BLOCK) {
            int end = Math.min(length, from + BLOCK);
            int at = 0;
            for (int i = from; i < end; i++) {
                long v = values[i];
                long z = (v << 1) ^ (v >> 63); // zigzag: small magnitudes of either sign get short codes
                while ((z & ~0x7FL) != 0) {
                    block[at++] = (byte) ((z & 0x7F) | 0x80);
                    z >>>= 7;
                }
                block[at++] = (byte) z;
            }
            target.writeInt(at);
            target.write(block, 0, at);
        }
    }

    /**
     * Reads {@code count} longs written by {@link #writePacked}; a chunk whose codes do not fill its byte count exactly is
     * corrupt, reported as {@code what} (e.g. "sketch of table 3") and what is wrong with it.
     */
    static long[] readPacked(int count, DataInputView source, String what) throws IOException {
        long[] values = new long[count];
        byte[] block = PACKED.get();
        for (int from = 0; from < count; from += BLOCK) {
            int n = Math.min(BLOCK, count - from);
            int bytes = source.readInt();
            if (bytes < n || bytes > n * MAX_CODE) {
                throw new IOException(what + ": corrupt packed longs: a chunk of " + n + " values in " + bytes + " bytes (allowed " + n + ".." + n * MAX_CODE + ")");
            }
            source.readFully(block, 0, bytes);
            int at = 0;
            for (int i = from; i < from + n; i++) {
                long z = 0;
                int shift = 0;
                byte b;
                do {
                    if (at == bytes || shift > 63) {
                        throw new IOException(what + ": corrupt packed longs: value " + i + " runs past its chunk of " + bytes + " bytes");
                    }
                    b = block[at++];
                    z |= (long) (b & 0x7F) << shift;
                    shift += 7;
                } while (b < 0);
                values[i] = (z >>> 1) ^ -(z & 1);
            }
            if (at != bytes) {
                throw new IOException(what + ": corrupt packed longs: " + (bytes - at) + " bytes left over in a chunk of " + n + " values");
            }
        }
        return values;
    }
}
