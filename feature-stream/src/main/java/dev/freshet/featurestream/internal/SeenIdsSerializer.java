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
 * Flink serializer of the dedup state ({@link SeenIds}): its live entries only, {@code -1 | count int | base long
 * | ids (count longs) | expiries (count, packed, each minus base)} ({@link LongBlocks}). Entries the table's latest
 * watermark has expired, and its empty slots, are left out: a table holds up to 8/3 slots per live entry between
 * resizes, and a checkpoint used to write all of them, 16 bytes each, through Flink's checkpoint stream that takes
 * a byte at a time; now a live entry takes 8 bytes and 1-3. A restore rebuilds the table from the entries. State
 * written before ({@code capacity int | used int | ids | expiries}, all slots) is still read.
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
    /** In place of the capacity: the live entries follow. */
    private static final int LIVE_ENTRIES = -1;
    /** More live entries than a dedup bucket holds; a table for them (3/8 full) still has an int power-of-two capacity. */
    private static final int MAX_ENTRIES = 1 << 27;
    /** The live entries gathered for a write; grown to the largest table, per thread (the checkpoint writers). */
    private static final ThreadLocal<long[][]> GATHERED = ThreadLocal.withInitial(() -> new long[][]{new long[0], new long[0]});

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
        to.latestWatermark = from.latestWatermark;
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
        long[][] g = GATHERED.get();
        if (g[0].length < record.ids.length) {
            g[0] = new long[record.ids.length];
            g[1] = new long[record.ids.length];
        }
        long[] ids = g[0], expiries = g[1];
        long watermark = record.latestWatermark;
        long base = Long.MAX_VALUE;
        int n = 0;
        for (int i = 0; i < record.ids.length; i++) {
            long e = record.expiries[i];
            if (e != 0 && e > watermark) {
                ids[n] = record.ids[i];
                expiries[n++] = e;
                base = Math.min(base, e);
            }
        }
        if (n == 0) base = 0;
        for (int j = 0; j < n; j++) expiries[j] -= base;
        target.writeInt(LIVE_ENTRIES);
        target.writeInt(n);
        target.writeLong(base);
        LongBlocks.write(ids, n, target);
        LongBlocks.writePacked(expiries, n, target);
    }

    @Override
    public SeenIds deserialize(DataInputView source) throws IOException {
        int capacity = source.readInt();
        if (capacity == LIVE_ENTRIES) return readLiveEntries(source);
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

    private static SeenIds readLiveEntries(DataInputView source) throws IOException {
        int n = source.readInt();
        if (n < 0 || n > MAX_ENTRIES) throw new IOException("corrupt dedup table: " + n + " live entries (allowed 0.." + MAX_ENTRIES + ")");
        long base = source.readLong();
        long[] ids = LongBlocks.read(n, source);
        long[] expiries = LongBlocks.readPacked(n, source, "dedup table of " + n + " live entries");
        for (int j = 0; j < n; j++) {
            long e = base + expiries[j];
            if (expiries[j] < 0 || e == 0) {
                throw new IOException("corrupt dedup table: entry " + j + " expires at " + e + " (base " + base + ", offset " + expiries[j] + ")");
            }
            expiries[j] = e;
        }
        return SeenIds.of(ids, expiries, n);
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
