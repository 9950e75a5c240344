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

    @Test
    void roundTripsTablesOfEverySize() throws IOException {
        SplittableRandom r = new SplittableRandom(11);
        for (int inserts : new int[]{0, 1, 11, 3_000, 6_500, 40_000}) {
            SeenIds t = table(r, inserts);
            DataOutputSerializer out = new DataOutputSerializer(64);
            S.serialize(t, out);
            assertEquals(8 + 16L * t.ids.length, out.length(), "bytes for capacity " + t.ids.length);
            SeenIds back = S.deserialize(new DataInputDeserializer(out.getCopyOfBuffer()));
            assertSameTable(t, back);
            // copy(in, out) writes the same bytes
            DataOutputSerializer copied = new DataOutputSerializer(64);
            S.copy(new DataInputDeserializer(out.getCopyOfBuffer()), copied);
            assertArrayEquals(out.getCopyOfBuffer(), copied.getCopyOfBuffer());
        }
    }

    @Test
    void aCopyIsIndependentOfItsOriginal() {
        SeenIds t = table(new SplittableRandom(12), 500);
        SeenIds c = S.copy(t);
        assertNotSame(t.ids, c.ids);
        assertSameTable(t, c);
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
        assertSameTable(t, S.deserialize(new DataInputDeserializer(now.getCopyOfBuffer())));
    }
}
