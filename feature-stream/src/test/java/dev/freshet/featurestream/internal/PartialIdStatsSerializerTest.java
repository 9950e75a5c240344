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
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The ID statistics' serializer: round trips, independent copies, and migration from the POJO serializer before it. */
class PartialIdStatsSerializerTest {
    private static final PartialIdStatsSerializer S = PartialIdStatsSerializer.INSTANCE;

    /** A table's partial as the job makes it: the counters of a sketch fed with seeded Zipf-like rows, and its top k. */
    private static PartialIdStats partial(SplittableRandom r, int table, int lookups, int k) {
        TableFrequencies f = new TableFrequencies(k);
        for (int i = 0; i < lookups; i++) {
            f.add((long) (1_000 / (1 + r.nextDouble() * 999)) + r.nextInt(3), 1);
        }
        return f.toPartial(table, 60_000L * table, 60_000L * (table + 1));
    }

    private static void assertSamePartial(PartialIdStats want, PartialIdStats got) {
        assertEquals(want.table, got.table);
        assertEquals(want.windowStart, got.windowStart);
        assertEquals(want.windowEnd, got.windowEnd);
        assertEquals(want.total, got.total);
        assertArrayEquals(want.sketch, got.sketch);
        assertArrayEquals(want.candidates, got.candidates);
    }

    private static byte[] bytes(TypeSerializer<PartialIdStats> s, PartialIdStats p) throws IOException {
        DataOutputSerializer out = new DataOutputSerializer(64);
        s.serialize(p, out);
        return out.getCopyOfBuffer();
    }

    @Test
    void roundTripsPartialsOfEverySizeAndMissingArrays() throws IOException {
        SplittableRandom r = new SplittableRandom(21);
        for (int lookups : new int[]{0, 1, 500, 50_000}) {
            PartialIdStats p = partial(r, lookups % 26, lookups, 100);
            byte[] written = bytes(S, p);
            long plain = 4 + 3 * 8 + 4 + 8L * p.sketch.length + 4 + 8L * p.candidates.length;
            assertTrue(written.length < plain / 2, written.length + " bytes packed against " + plain + " as plain longs");
            assertSamePartial(p, S.deserialize(new DataInputDeserializer(written)));
            DataOutputSerializer copied = new DataOutputSerializer(64);
            S.copy(new DataInputDeserializer(written), copied);
            assertArrayEquals(written, copied.getCopyOfBuffer());
        }
        PartialIdStats empty = new PartialIdStats(3, 10, 20, 0, null, new long[0]);
        PartialIdStats back = S.deserialize(new DataInputDeserializer(bytes(S, empty)));
        assertNull(back.sketch);
        assertEquals(0, back.candidates.length);
    }

    @Test
    void aCopyIsIndependentOfItsOriginal() {
        PartialIdStats p = partial(new SplittableRandom(22), 1, 2_000, 10);
        PartialIdStats c = S.copy(p);
        assertNotSame(p.sketch, c.sketch);
        assertNotSame(p.candidates, c.candidates);
        assertSamePartial(p, c);
        long before = p.sketch[0];
        c.sketch[0] += 5;
        assertEquals(before, p.sketch[0], "the original kept its counter");
    }

    @Test
    void refusesACorruptLengthNamingTheTableAndWindow() throws IOException {
        DataOutputSerializer out = new DataOutputSerializer(64);
        out.writeInt(7);
        out.writeLong(120_000);
        out.writeLong(180_000);
        out.writeLong(5);
        out.writeInt(-5);
        IOException e = assertThrows(IOException.class, () -> S.deserialize(new DataInputDeserializer(out.getCopyOfBuffer())));
        assertTrue(e.getMessage().contains("table 7, window 120000") && e.getMessage().contains("sketch length -5"), e.getMessage());
    }

    @Test
    void packsValuesOfEveryMagnitudeAndSignAcrossChunks() throws IOException {
        SplittableRandom r = new SplittableRandom(System.nanoTime());
        for (int length : new int[]{0, 1, 4095, 4096, 4097, 10_000}) {
            long[] values = new long[length];
            for (int i = 0; i < length; i++) {
                values[i] = switch (i % 5) {
                    case 0 -> r.nextLong();
                    case 1 -> r.nextInt(200) - 100;
                    case 2 -> Long.MIN_VALUE + r.nextInt(3);
                    case 3 -> Long.MAX_VALUE - r.nextInt(3);
                    default -> r.nextLong(1L << r.nextInt(1, 63));
                };
            }
            PartialIdStats p = new PartialIdStats(4, 0, 60_000, length, values, values.clone());
            assertSamePartial(p, S.deserialize(new DataInputDeserializer(bytes(S, p))));
        }
    }

    @Test
    void readsPartialsWrittenAsPlainLongsBeforeThePacking() throws IOException {
        PartialIdStats p = partial(new SplittableRandom(25), 9, 20_000, 100);
        DataOutputSerializer out = new DataOutputSerializer(64);
        out.writeInt(p.table);
        out.writeLong(p.windowStart);
        out.writeLong(p.windowEnd);
        out.writeLong(p.total);
        out.writeInt(p.sketch.length);
        LongBlocks.write(p.sketch, out);
        out.writeInt(p.candidates.length);
        LongBlocks.write(p.candidates, out);
        assertSamePartial(p, S.deserialize(new DataInputDeserializer(out.getCopyOfBuffer())));
    }

    @Test
    void refusesAPackedChunkWhoseCodesDoNotFillItsByteCount() throws IOException {
        byte[] good = bytes(S, new PartialIdStats(6, 60_000, 120_000, 3, new long[]{1, 300, 2}, null));
        // layout: table 4, three longs 24, marker 4, length 4, then the chunk's byte count (4 bytes: 1 + 2 + 1 = 4)
        int countAt = 4 + 24 + 4 + 4;
        assertEquals(4, java.nio.ByteBuffer.wrap(good, countAt, 4).getInt());
        for (int wrong : new int[]{3, 5, 31}) {
            byte[] bad = good.clone();
            java.nio.ByteBuffer.wrap(bad, countAt, 4).putInt(wrong);
            IOException e = assertThrows(IOException.class, () -> S.deserialize(new DataInputDeserializer(bad)));
            assertTrue(e.getMessage().contains("table 6, window 60000: sketch") && e.getMessage().contains("corrupt packed"),
                    e.getMessage());
        }
    }

    @Test
    void itsSnapshotRestoresItAndAcceptsStateOfThePojoSerializerBeforeIt() throws IOException {
        DataOutputSerializer out = new DataOutputSerializer(64);
        TypeSerializerSnapshot.writeVersionedSnapshot(out, S.snapshotConfiguration());
        TypeSerializerSnapshot<PartialIdStats> restored = TypeSerializerSnapshot.readVersionedSnapshot(
                new DataInputDeserializer(out.getCopyOfBuffer()), getClass().getClassLoader());
        assertEquals(S, restored.restoreSerializer());
        assertTrue(S.snapshotConfiguration().resolveSchemaCompatibility(restored).isCompatibleAsIs());

        // what a savepoint of the previous version holds: partials written by Flink's POJO serializer
        TypeSerializer<PartialIdStats> pojo = TypeInformation.of(PartialIdStats.class).createSerializer(new SerializerConfigImpl());
        TypeSerializerSchemaCompatibility<PartialIdStats> c = S.snapshotConfiguration().resolveSchemaCompatibility(pojo.snapshotConfiguration());
        assertTrue(c.isCompatibleAfterMigration(), "from the POJO serializer: " + c);
        PartialIdStats p = partial(new SplittableRandom(23), 25, 5_000, 50);
        PartialIdStats read = pojo.deserialize(new DataInputDeserializer(bytes(pojo, p)));
        assertSamePartial(p, S.deserialize(new DataInputDeserializer(bytes(S, read))));
    }

    @Test
    void aCheckpointedPartialRestoresTheSameCandidatesAsTheSortedOne() {
        SplittableRandom r = new SplittableRandom(24);
        TableFrequencies f = new TableFrequencies(20);
        for (int i = 0; i < 20_000; i++) f.add((long) (1_000 / (1 + r.nextDouble() * 999)), 1);
        TableFrequencies fromSorted = new TableFrequencies(20);
        fromSorted.merge(f.toPartial(0, 0, 60_000));
        TableFrequencies fromCheckpoint = new TableFrequencies(20);
        fromCheckpoint.merge(f.toCheckpoint(0, 0, 60_000));
        assertArrayEquals(f.topRows(), fromCheckpoint.topRows());
        assertArrayEquals(fromSorted.topRows(), fromCheckpoint.topRows());
        assertEquals(f.total(), fromCheckpoint.total());
    }
}
