package dev.freshet.featurestream.internal;

import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Long arrays to and from Flink's data views in blocks of bytes, for the state serializers that write
 * large arrays at every checkpoint ({@link SeenIdsSerializer}, {@link PartialIdStatsSerializer}): Flink's
 * own array serializer writes each long with its own call through several stream wrappers.
 */
final class LongBlocks {
    /** Longs per block written or read at once: 32 KiB, reused per thread. */
    private static final int BLOCK = 4096;
    private static final ThreadLocal<ByteBuffer> BLOCKS = ThreadLocal.withInitial(() -> ByteBuffer.allocate(BLOCK * Long.BYTES));

    private LongBlocks() {
    }

    static void write(long[] values, DataOutputView target) throws IOException {
        ByteBuffer block = BLOCKS.get();
        for (int from = 0; from < values.length; from += BLOCK) {
            int n = Math.min(BLOCK, values.length - from);
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
}
