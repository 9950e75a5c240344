package dev.freshet.featurestream.internal;

import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.api.java.typeutils.runtime.PojoSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

import java.io.IOException;

/**
 * Flink serializer of the dedup state ({@link SeenIds}): {@code capacity int | used int | ids | expiries},
 * the two long arrays written as blocks of bytes.
 *
 * <p>Why not the POJO serializer Flink derives: the embedded job checkpoints five times a second, and every
 * checkpoint writes every bucket's table whole (the heap backend has no incremental snapshots) and, for each
 * bucket touched while the snapshot is written, copies it (copy on write). The POJO serializer wrote each
 * long with its own call through four stream wrappers, and created each copy by reflection with an access
 * check per call: in a profile of the feature job at 200 ms checkpoints those two were the checkpoint
 * writer's and the dedup thread's largest items. Old savepoints stay readable: state written by the POJO
 * serializer is read with it and then kept with this one ({@link Snapshot#resolveSchemaCompatibility}).
 */
public final class SeenIdsSerializer extends TypeSerializerSingleton<SeenIds> {
    public static final SeenIdsSerializer INSTANCE = new SeenIdsSerializer();

    private SeenIdsSerializer() {
    }

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public SeenIds createInstance() {
        return new SeenIds();
    }

    @Override
    public SeenIds copy(SeenIds from) {
        SeenIds to = new SeenIds();
        to.ids = from.ids.clone();
        to.expiries = from.expiries.clone();
        to.used = from.used;
        return to;
    }

    @Override
    public SeenIds copy(SeenIds from, SeenIds reuse) {
        return copy(from);
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(SeenIds record, DataOutputView target) throws IOException {
        if (record.ids.length != record.expiries.length) {
            throw new IOException("dedup table with " + record.ids.length + " ids but " + record.expiries.length + " expiries");
        }
        target.writeInt(record.ids.length);
        target.writeInt(record.used);
        LongBlocks.write(record.ids, target);
        LongBlocks.write(record.expiries, target);
    }

    @Override
    public SeenIds deserialize(DataInputView source) throws IOException {
        int capacity = source.readInt();
        int used = source.readInt();
        if (capacity < 1 || Integer.bitCount(capacity) != 1 || used < 0 || used > capacity) {
            throw new IOException("corrupt dedup table: capacity " + capacity + " (a power of two), " + used + " slots used");
        }
        SeenIds s = new SeenIds();
        s.ids = LongBlocks.read(capacity, source);
        s.expiries = LongBlocks.read(capacity, source);
        s.used = used;
        return s;
    }

    @Override
    public SeenIds deserialize(SeenIds reuse, DataInputView source) throws IOException {
        return deserialize(source);
    }

    @Override
    public void copy(DataInputView source, DataOutputView target) throws IOException {
        serialize(deserialize(source), target);
    }

    @Override
    public TypeSerializerSnapshot<SeenIds> snapshotConfiguration() {
        return new Snapshot();
    }

    /** Restores this serializer; state written by Flink's POJO serializer (before it) is read and migrated. */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<SeenIds> {
        public Snapshot() {
            super(() -> INSTANCE);
        }

        @Override
        public TypeSerializerSchemaCompatibility<SeenIds> resolveSchemaCompatibility(TypeSerializerSnapshot<SeenIds> old) {
            if (old instanceof PojoSerializerSnapshot) return TypeSerializerSchemaCompatibility.compatibleAfterMigration();
            return super.resolveSchemaCompatibility(old);
        }
    }
}
