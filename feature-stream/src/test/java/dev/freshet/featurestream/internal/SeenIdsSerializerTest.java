package dev.freshet.featurestream.internal;

import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The dedup state's serializer: round trips, independent copies, and migration from the POJO serializer before it. */
class SeenIdsSerializerTest {
    private static final SeenIdsSerializer S = SeenIdsSerializer.INSTANCE;

    /** A table filled by the dedup's own inserts: sizes across the serializer's 4,096-long blocks, tombstones included. */
    private static SeenIds table(SplittableRandom r, int inserts) {
        SeenIds s = new SeenIds();
        long watermark = 0;
        for (int i = 0; i < inserts; i++) {
            s.checkAndAdd(r.nextLong(), watermark + 1 + r.nextInt(5_000), watermark);
            if (i % 100 == 0) watermark += 50;
        }
        return s;
    }

    private static void assertSameTable(SeenIds want, SeenIds got) {
        assertArrayEquals(want.ids, got.ids);
        assertArrayEquals(want.expiries, got.expiries);
        assertEquals(want.used, got.used);
    }

    /** The entries of {@code t} live at its latest watermark: id to expiry. */
    private static java.util.Map<Long, Long> liveEntries(SeenIds t) {
        java.util.Map<Long, Long> m = new java.util.HashMap<>();
        for (int i = 0; i < t.ids.length; i++) {
            if (t.expiries[i] != 0 && t.expiries[i] > t.latestWatermark) assertNull(m.put(t.ids[i], t.expiries[i]), "id twice");
        }
        return m;
    }

    /** {@code got} holds exactly {@code want}'s live entries, only them, and counts its slots right. */
    private static void assertSameLiveEntries(SeenIds want, SeenIds got) {
        java.util.Map<Long, Long> live = liveEntries(want);
        int held = 0;
        for (int i = 0; i < got.ids.length; i++) {
            if (got.expiries[i] == 0) continue;
            held++;
            assertEquals(live.get(got.ids[i]), got.expiries[i], "entry for id " + got.ids[i]);
        }
        assertEquals(live.size(), held);
        assertEquals(held, got.used);
        for (Long id : live.keySet()) assertTrue(got.checkAndAdd(id, Long.MAX_VALUE, want.latestWatermark), "id " + id + " still seen");
    }

    @Test
    void roundTripsTheLiveEntriesOfTablesOfEverySize() throws IOException {
        SplittableRandom r = new SplittableRandom(11);
        for (int inserts : new int[]{0, 1, 11, 3_000, 6_500, 40_000}) {
            SeenIds t = table(r, inserts);
            DataOutputSerializer out = new DataOutputSerializer(64);
            S.serialize(t, out);
            int live = liveEntries(t).size();
            // 8 bytes an id, at most 3 an expiry offset (under 2^20 here), 4 a chunk of 4,096 offsets
            assertTrue(out.length() <= 16 + 11L * live + 4L * ((live + 4_095) / 4_096),
                    out.length() + " bytes for " + live + " live entries");
            if (inserts >= 3_000) assertTrue(out.length() < (8 + 16L * t.ids.length) / 2, "half the whole table's bytes at most");
            SeenIds back = S.deserialize(new DataInputDeserializer(out.getCopyOfBuffer()));
            assertSameLiveEntries(t, back);
            // copy(in, out) writes the same entries (in the rebuilt table's order)
            DataOutputSerializer copied = new DataOutputSerializer(64);
            S.copy(new DataInputDeserializer(out.getCopyOfBuffer()), copied);
            assertEquals(out.length(), copied.length());
            assertSameLiveEntries(t, S.deserialize(new DataInputDeserializer(copied.getCopyOfBuffer())));
        }
    }

    @Test
    void aCopyIsIndependentOfItsOriginal() {
        SeenIds t = table(new SplittableRandom(12), 500);
        SeenIds c = S.copy(t);
        assertNotSame(t.ids, c.ids);
        assertSameTable(t, c);
        assertEquals(t.latestWatermark, c.latestWatermark, "a copy leaves out what its original would");
        long id = 0x5DEECE66DL;
        assertFalse(c.checkAndAdd(id, Long.MAX_VALUE, 0));
        assertTrue(c.checkAndAdd(id, Long.MAX_VALUE, 0));
        assertFalse(t.checkAndAdd(id, Long.MAX_VALUE, 0), "the original never saw the copy's insert");
    }

    @Test
    void refusesACorruptTable() {
        DataOutputSerializer out = new DataOutputSerializer(16);
        try {
            out.writeInt(12); // not a power of two
            out.writeInt(3);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        IOException e = assertThrows(IOException.class, () -> S.deserialize(new DataInputDeserializer(out.getCopyOfBuffer())));
        assertTrue(e.getMessage().contains("capacity 12"), e.getMessage());
    }

    @Test
    void itsSnapshotRestoresItAndAcceptsStateOfThePojoSerializerBeforeIt() throws IOException {
        DataOutputSerializer out = new DataOutputSerializer(64);
        TypeSerializerSnapshot.writeVersionedSnapshot(out, S.snapshotConfiguration());
        TypeSerializerSnapshot<SeenIds> restored = TypeSerializerSnapshot.readVersionedSnapshot(
                new DataInputDeserializer(out.getCopyOfBuffer()), getClass().getClassLoader());
        assertEquals(S, restored.restoreSerializer());
        assertTrue(S.snapshotConfiguration().resolveSchemaCompatibility(restored).isCompatibleAsIs());

        // what a savepoint of the previous version holds: the table written by Flink's POJO serializer
        TypeSerializer<SeenIds> pojo = TypeInformation.of(SeenIds.class).createSerializer(new SerializerConfigImpl());
        TypeSerializerSchemaCompatibility<SeenIds> c = S.snapshotConfiguration().resolveSchemaCompatibility(pojo.snapshotConfiguration());
        assertTrue(c.isCompatibleAfterMigration(), "from the POJO serializer: " + c);
        SeenIds t = table(new SplittableRandom(13), 2_000);
        DataOutputSerializer old = new DataOutputSerializer(64);
        pojo.serialize(t, old);
        SeenIds read = pojo.deserialize(new DataInputDeserializer(old.getCopyOfBuffer()));
        DataOutputSerializer now = new DataOutputSerializer(64);
        S.serialize(read, now);
        // a table read by the POJO serializer has no latest watermark yet: every entry it holds is written
        assertSameLiveEntries(read, S.deserialize(new DataInputDeserializer(now.getCopyOfBuffer())));
    }

    @Test
    void readsWholeTablesWrittenBeforeOnlyLiveEntriesWere() throws IOException {
        SeenIds t = table(new SplittableRandom(14), 5_000);
        DataOutputSerializer out = new DataOutputSerializer(64);
        out.writeInt(t.ids.length);
        out.writeInt(t.used);
        LongBlocks.write(t.ids, out);
        LongBlocks.write(t.expiries, out);
        assertSameTable(t, S.deserialize(new DataInputDeserializer(out.getCopyOfBuffer())));
    }

    @Test
    void entriesExpiredAtTheLatestWatermarkAreLeftOutAndStayForgotten() throws IOException {
        SeenIds t = new SeenIds();
        assertFalse(t.checkAndAdd(1, 1_000, 0));
        assertFalse(t.checkAndAdd(2, 5_000, 0));
        assertFalse(t.checkAndAdd(3, 9_000, 2_000)); // the watermark passes id 1's expiry
        DataOutputSerializer out = new DataOutputSerializer(64);
        S.serialize(t, out);
        SeenIds back = S.deserialize(new DataInputDeserializer(out.getCopyOfBuffer()));
        assertEquals(2, back.used);
        assertFalse(back.checkAndAdd(1, 12_000, 2_000), "id 1 expired before the checkpoint: a new first occurrence");
        assertTrue(back.checkAndAdd(2, 12_000, 2_000));
        assertTrue(back.checkAndAdd(3, 12_000, 2_000));
    }

    @Test
    void refusesLiveEntriesWithACorruptCountOrOffsets() throws IOException {
        DataOutputSerializer out = new DataOutputSerializer(16);
        out.writeInt(-1);
        out.writeInt(-3);
        IOException e = assertThrows(IOException.class, () -> S.deserialize(new DataInputDeserializer(out.getCopyOfBuffer())));
        assertTrue(e.getMessage().contains("-3 live entries"), e.getMessage());

        DataOutputSerializer bad = new DataOutputSerializer(16);
        bad.writeInt(-1);
        bad.writeInt(1);
        bad.writeLong(100);
        LongBlocks.write(new long[]{42}, bad);
        LongBlocks.writePacked(new long[]{-7}, bad);
        e = assertThrows(IOException.class, () -> S.deserialize(new DataInputDeserializer(bad.getCopyOfBuffer())));
        assertTrue(e.getMessage().contains("entry 0 expires at 93"), e.getMessage());
    }
}
