package dev.freshet.featurestream.internal;

import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.api.java.typeutils.runtime.PojoSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

import java.io.IOException;

/**
 * Flink serializer of {@link PartialIdStats}, in flight (sketch to merge) and in state (the open windows of
 * {@link IdStatsPreAggregator} and {@link IdStatsMerger}): {@code table int | windowStart long | windowEnd long
 * | total long | sketch | candidates}, each array as {@code -2 | length int | packed longs} ({@link
 * LongBlocks#writePacked}), or {@code -1} for none. Packed, a window's counters take 1-3 bytes instead of 8: 26
 * tables of 8,192 counters took 1.7 MB and 7 ms of the checkpoint writer per operator per checkpoint written as
 * plain longs. State written before the packing ({@code length int | longs}) is still read.
 *
 * <p>Why not the POJO serializer Flink derives: every checkpoint writes each open window's partials, 26 tables
 * of 8,192 counters for Criteo, and the embedded job checkpoints five times a second; the POJO serializer wrote
 * each long with its own call through four stream wrappers, three quarters of the checkpoint writer's samples
 * in a JFR profile of the pipeline benchmark. State written by the POJO serializer is read with it and then
 * kept with this one ({@link Snapshot#resolveSchemaCompatibility}).
 */
public final class PartialIdStatsSerializer extends TypeSerializerSingleton<PartialIdStats> {
    public static final PartialIdStatsSerializer INSTANCE = new PartialIdStatsSerializer();
    /** Longer than any sketch or candidate list the job makes (TableFrequencies: 4 x 2,048; top-k at most 100,000). */
    private static final int MAX_LENGTH = 1 << 24;
    private static final int NONE = -1;
    /** In place of a length: the array follows packed, its length first. */
    private static final int PACKED = -2;

    private PartialIdStatsSerializer() {
    }

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public PartialIdStats createInstance() {
        return new PartialIdStats();
    }

    @Override
    public PartialIdStats copy(PartialIdStats from) {
        return new PartialIdStats(from.table, from.windowStart, from.windowEnd, from.total,
                from.sketch == null ? null : from.sketch.clone(), from.candidates == null ? null : from.candidates.clone());
    }

    @Override
    public PartialIdStats copy(PartialIdStats from, PartialIdStats reuse) {
        return copy(from);
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(PartialIdStats record, DataOutputView target) throws IOException {
        target.writeInt(record.table);
        target.writeLong(record.windowStart);
        target.writeLong(record.windowEnd);
        target.writeLong(record.total);
        writeArray(record.sketch, target);
        writeArray(record.candidates, target);
    }

    @Override
    public PartialIdStats deserialize(DataInputView source) throws IOException {
        PartialIdStats p = new PartialIdStats();
        p.table = source.readInt();
        p.windowStart = source.readLong();
        p.windowEnd = source.readLong();
        p.total = source.readLong();
        p.sketch = readArray(source, "sketch", p);
        p.candidates = readArray(source, "candidates", p);
        return p;
    }

    @Override
    public PartialIdStats deserialize(PartialIdStats reuse, DataInputView source) throws IOException {
        return deserialize(source);
    }

    @Override
    public void copy(DataInputView source, DataOutputView target) throws IOException {
        serialize(deserialize(source), target);
    }

    private static void writeArray(long[] values, DataOutputView target) throws IOException {
        if (values == null) {
            target.writeInt(NONE);
            return;
        }
        target.writeInt(PACKED);
        target.writeInt(values.length);
        LongBlocks.writePacked(values, target);
    }

    private static long[] readArray(DataInputView source, String field, PartialIdStats p) throws IOException {
        int length = source.readInt();
        if (length == NONE) return null;
        boolean packed = length == PACKED;
        if (packed) length = source.readInt();
        if (length < 0 || length > MAX_LENGTH) {
            throw new IOException("corrupt ID statistics of table " + p.table + ", window " + p.windowStart + ": " + field
                    + " length " + length + " (allowed -1 for none, -2 for packed, or 0.." + MAX_LENGTH + ")");
        }
        if (!packed) return LongBlocks.read(length, source);
        return LongBlocks.readPacked(length, source, "ID statistics of table " + p.table + ", window " + p.windowStart + ": " + field);
    }

    @Override
    public TypeSerializerSnapshot<PartialIdStats> snapshotConfiguration() {
        return new Snapshot();
    }

    /** Restores this serializer; state written by Flink's POJO serializer (before it) is read and migrated. */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<PartialIdStats> {
        public Snapshot() {
            super(() -> INSTANCE);
        }

        @Override
        public TypeSerializerSchemaCompatibility<PartialIdStats> resolveSchemaCompatibility(TypeSerializerSnapshot<PartialIdStats> old) {
            if (old instanceof PojoSerializerSnapshot) return TypeSerializerSchemaCompatibility.compatibleAfterMigration();
            return super.resolveSchemaCompatibility(old);
        }
    }
}
