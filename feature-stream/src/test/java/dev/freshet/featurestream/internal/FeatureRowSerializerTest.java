package dev.freshet.featurestream.internal;

import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The in-flight serializer of FeatureRow: every field survives, nulls included, and the bytes are what the layout says. */
class FeatureRowSerializerTest {
    private static final TypeSerializer<FeatureRow> SERIALIZER = RecordTypes.ROW.createSerializer(new SerializerConfigImpl());

    private static List<FeatureRow> rows() {
        Random random = new Random(11);
        float[] dense = new float[13];
        for (int i = 0; i < dense.length; i++) dense[i] = random.nextFloat() * 20 - 10;
        dense[3] = -0.0f;
        dense[4] = Float.MIN_VALUE;
        int[] sparse = new int[26];
        for (int i = 0; i < sparse.length; i++) sparse[i] = random.nextInt();
        sparse[0] = Integer.MIN_VALUE;
        sparse[1] = Integer.MAX_VALUE;
        FeatureRow labeled = new FeatureRow("criteo:17", 0x8000_0000_0000_0001L, FeatureRow.LABELED, null, 1_700_000_000_017L, (byte) 1,
                dense, sparse);
        FeatureRow click = new FeatureRow("c-\u00e9\u4e2d", -5, FeatureRow.CLICK, "imp-\ud83d\ude00", 0, (byte) 1, new float[0], new int[0]);
        click.source = new SourceRecord("clicks", 3, 1L << 40, "c-key".getBytes(StandardCharsets.UTF_8), new byte[]{(byte) 0xC3, 1, 0, -1});
        FeatureRow keyless = new FeatureRow("c2", 6, FeatureRow.CLICK, "imp", 1, (byte) 1, new float[0], new int[0]);
        keyless.source = new SourceRecord(null, 0, 0, null, new byte[0]);
        FeatureRow empty = new FeatureRow();
        return List.of(labeled, click, keyless, empty);
    }

    @Test
    void everyFieldSurvivesARoundTripIncludingNullsAndEdgeValues() throws IOException {
        DataOutputSerializer out = new DataOutputSerializer(64);
        for (FeatureRow row : rows()) {
            SERIALIZER.serialize(row, out);
        }
        DataInputDeserializer in = new DataInputDeserializer(out.getSharedBuffer(), 0, out.length());
        for (FeatureRow want : rows()) {
            assertSameRow(want, SERIALIZER.deserialize(in));
        }
        assertEquals(0, in.available(), "nothing left over");
    }

    @Test
    void theBytesFollowTheDocumentedLayout() throws IOException {
        FeatureRow row = new FeatureRow("ab", 7, FeatureRow.IMPRESSION, null, 9, (byte) 0, new float[]{1.5f}, new int[]{3, 4});
        DataOutputSerializer out = new DataOutputSerializer(64);
        SERIALIZER.serialize(row, out);
        // 1 kind + 8 hash + 8 time + 1 label + "ab" (4 + 2) + null (4) + 4 + 4 + 4 + 2 * 4 + no source (1)
        assertEquals(1 + 8 + 8 + 1 + 6 + 4 + 4 + 4 + 4 + 8 + 1, out.length());
        DataInputDeserializer in = new DataInputDeserializer(out.getSharedBuffer(), 0, out.length());
        assertEquals(FeatureRow.IMPRESSION, in.readByte());
        assertEquals(7, in.readLong());
        assertEquals(9, in.readLong());
        assertEquals(0, in.readByte());
        assertEquals(2, in.readInt());
        assertEquals('a', in.readByte());
        assertEquals('b', in.readByte());
        assertEquals(-1, in.readInt(), "no impression id");
        assertEquals(1, in.readInt());
        assertEquals(1.5f, in.readFloat());
    }

    @Test
    void copiesAreDeepAndNeverReuseTheTarget() throws IOException {
        FeatureRow original = rows().get(0);
        FeatureRow copy = SERIALIZER.copy(original, new FeatureRow());
        assertSameRow(original, copy);
        assertNotSame(original.dense, copy.dense);
        assertNotSame(original.sparse, copy.sparse);
        FeatureRow click = rows().get(1);
        FeatureRow clickCopy = SERIALIZER.copy(click);
        assertSameRow(click, clickCopy);
        assertNotSame(click.source.value, clickCopy.source.value);

        DataOutputSerializer out = new DataOutputSerializer(64);
        SERIALIZER.serialize(original, out);
        FeatureRow reuse = new FeatureRow();
        FeatureRow read = SERIALIZER.deserialize(reuse, new DataInputDeserializer(out.getSharedBuffer(), 0, out.length()));
        assertNotSame(reuse, read, "a row downstream may still hold the reuse instance");
        assertNull(reuse.eventId);

        DataOutputSerializer copied = new DataOutputSerializer(64);
        SERIALIZER.copy(new DataInputDeserializer(out.getSharedBuffer(), 0, out.length()), copied);
        assertArrayEquals(out.getCopyOfBuffer(), copied.getCopyOfBuffer());
    }

    @Test
    void itsSnapshotRestoresTheSameSerializerAsCompatible() {
        TypeSerializerSnapshot<FeatureRow> snapshot = SERIALIZER.snapshotConfiguration();
        assertSame(FeatureRowSerializer.INSTANCE, snapshot.restoreSerializer());
        TypeSerializerSchemaCompatibility<FeatureRow> compatibility =
                SERIALIZER.snapshotConfiguration().resolveSchemaCompatibility(snapshot);
        assertTrue(compatibility.isCompatibleAsIs(), compatibility.toString());
        assertEquals(new SerializerTypeInfo<>(FeatureRow.class, FeatureRowSerializer.INSTANCE), RecordTypes.ROW);
        assertSame(FeatureRowSerializer.INSTANCE, RecordTypes.ROW.createSerializer(new org.apache.flink.api.common.serialization.SerializerConfigImpl()));
    }

    private static void assertSameRow(FeatureRow want, FeatureRow got) {
        FeatureRowAssertions.assertSameRow(want, got, want.toString(), true);
    }
}
