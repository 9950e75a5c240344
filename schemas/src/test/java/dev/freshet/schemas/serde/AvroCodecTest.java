package dev.freshet.schemas.serde;

import dev.freshet.features.Examples;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.FeatureBatch;
import dev.freshet.schemas.IdFrequencyStats;
import dev.freshet.schemas.ModelUpdate;
import dev.freshet.schemas.UpdateKind;
import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AvroCodecTest {

    @Test
    void everyRecordTypeRoundTrips() {
        roundTrip(ClickEvent.class, SampleRecords.labeledClick());
        roundTrip(ClickEvent.class, SampleRecords.click());
        roundTrip(FeatureBatch.class, SampleRecords.featureBatch());
        roundTrip(IdFrequencyStats.class, SampleRecords.stats());
        roundTrip(ModelUpdate.class, SampleRecords.modelUpdate());
        ModelUpdate full = ModelUpdate.newBuilder(SampleRecords.modelUpdate())
                .setKind(UpdateKind.FULL).setParentVersion(null).setArtifactRef("ctr/v12").build();
        roundTrip(ModelUpdate.class, full);
    }

    @Test
    void featureBatchArraysSurviveTheTrip() {
        AvroCodec<FeatureBatch> codec = new AvroCodec<>(FeatureBatch.class);
        FeatureBatch back = codec.decode(codec.encode(SampleRecords.featureBatch()));
        Examples ex = new Examples(1, 2, 3);
        ex.append(back);
        assertEquals(3, ex.count);
        assertEquals(99, ex.layoutId);
        assertArrayEquals(new byte[]{0, 1, 0}, Arrays.copyOf(ex.labels, 3));
        assertArrayEquals(new float[]{0.5f, -1.25f, 0f, 3.75f, 20f, -20f}, Arrays.copyOf(ex.dense, 6));
        assertArrayEquals(new int[]{0, 1, 2, 99_999, 5, 7, 123, 456, 789}, Arrays.copyOf(ex.sparse, 9));
        assertArrayEquals(new long[]{1L, Long.MAX_VALUE, -1L}, Arrays.copyOf(ex.eventTimes, 3));
    }

    @Test
    void headerIsAvroSingleObjectEncodingSoStandardDecodersReadIt() throws Exception {
        AvroCodec<ClickEvent> codec = new AvroCodec<>(ClickEvent.class);
        ClickEvent event = SampleRecords.labeledClick();
        byte[] bytes = codec.encode(event);
        assertEquals((byte) 0xC3, bytes[0]);
        assertEquals((byte) 0x01, bytes[1]);
        assertEquals(SchemaCatalog.fingerprint(ClickEvent.getClassSchema()), AvroCodec.writerFingerprint("ClickEvent", bytes, 0, bytes.length));
        assertEquals(codec.fingerprint(), AvroCodec.writerFingerprint("ClickEvent", bytes, 0, bytes.length));
        assertEquals(event, ClickEvent.getDecoder().decode(bytes));
        assertArrayEquals(ClickEvent.getEncoder().encode(event).array(), bytes);
    }

    @Test
    void decodesAtAnOffsetAndIntoAReusedRecord() {
        AvroCodec<ClickEvent> codec = new AvroCodec<>(ClickEvent.class);
        byte[] a = codec.encode(SampleRecords.labeledClick());
        byte[] b = codec.encode(SampleRecords.click());
        byte[] joined = new byte[a.length + b.length + 3];
        System.arraycopy(a, 0, joined, 1, a.length);
        System.arraycopy(b, 0, joined, 1 + a.length, b.length);
        ClickEvent reuse = codec.decode(joined, 1, a.length, null);
        assertEquals(SampleRecords.labeledClick(), reuse);
        ClickEvent second = codec.decode(joined, 1 + a.length, b.length, reuse);
        assertSame(reuse, second, "the reused record is filled in");
        assertEquals(SampleRecords.click(), second);
    }

    @Test
    void kafkaSerdeRoundTripsAndPassesNullThrough() {
        KafkaAvroSerde<ModelUpdate> serde = KafkaAvroSerde.of(ModelUpdate.class);
        byte[] bytes = serde.serialize("model-updates", SampleRecords.modelUpdate());
        assertEquals(SampleRecords.modelUpdate(), serde.deserialize("model-updates", bytes));
        assertEquals(null, serde.serialize("t", null));
        assertEquals(null, serde.deserialize("t", null));
    }

    @Test
    void unknownFingerprintIsRefusedNamingIt() {
        AvroCodec<ClickEvent> codec = new AvroCodec<>(ClickEvent.class);
        byte[] bytes = codec.encode(SampleRecords.click());
        bytes[2] ^= 0x5A; // the fingerprint's lowest byte
        long unknown = AvroCodec.writerFingerprint("ClickEvent", bytes, 0, bytes.length);
        UnknownSchemaException e = assertThrows(UnknownSchemaException.class, () -> codec.decode(bytes));
        assertEquals(unknown, e.fingerprint());
        assertTrue(e.getMessage().contains(String.format("%016x", unknown)), e.getMessage());
        assertTrue(e.getMessage().contains("ClickEvent"), e.getMessage());
        assertTrue(e.getMessage().contains("Fix:"), e.getMessage());
        assertInstanceOf(RecordFormatException.class, e);
    }

    @Test
    void badHeaderIsRefusedSayingWhatWasExpected() {
        AvroCodec<ClickEvent> codec = new AvroCodec<>(ClickEvent.class);
        RecordFormatException json = assertThrows(RecordFormatException.class,
                () -> codec.decode("{\"eventId\":\"x\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        assertTrue(json.getMessage().contains("C3 01"), json.getMessage());
        assertTrue(json.getMessage().contains("15 bytes"), json.getMessage());
        RecordFormatException shortOne = assertThrows(RecordFormatException.class, () -> codec.decode(new byte[]{(byte) 0xC3, 0x01, 0}));
        assertTrue(shortOne.getMessage().contains("3 bytes"), shortOne.getMessage());
        assertThrows(RecordFormatException.class, () -> codec.decode(new byte[0]));
    }

    @Test
    void truncatedOrPaddedBodyIsRefused() {
        AvroCodec<ClickEvent> codec = new AvroCodec<>(ClickEvent.class);
        byte[] bytes = codec.encode(SampleRecords.labeledClick());
        for (int cut : new int[]{1, 5, bytes.length - AvroCodec.HEADER_BYTES - 1}) {
            byte[] truncated = Arrays.copyOf(bytes, bytes.length - cut);
            RecordFormatException e = assertThrows(RecordFormatException.class, () -> codec.decode(truncated), "cut " + cut);
            assertTrue(e.getMessage().contains("corrupt ClickEvent record (" + truncated.length + " bytes)"), e.getMessage());
        }
        byte[] padded = Arrays.copyOf(bytes, bytes.length + 2);
        RecordFormatException e = assertThrows(RecordFormatException.class, () -> codec.decode(padded));
        assertTrue(e.getMessage().contains("trailing bytes"), e.getMessage());
        // The codec is still usable after a failure.
        assertEquals(SampleRecords.labeledClick(), codec.decode(bytes));
    }

    @Test
    void differentRecordTypesHaveDifferentFingerprints() {
        assertNotEquals(new AvroCodec<>(ClickEvent.class).fingerprint(), new AvroCodec<>(FeatureBatch.class).fingerprint());
        // A FeatureBatch's bytes are not a ClickEvent: the reader says so instead of decoding garbage.
        byte[] batch = new AvroCodec<>(FeatureBatch.class).encode(SampleRecords.featureBatch());
        assertThrows(RecordFormatException.class, () -> new AvroCodec<>(ClickEvent.class).decode(batch));
    }

    @Test
    void encodeRefusesNullAndInvalidRecordsWithRecordFormatException() {
        AvroCodec<ClickEvent> codec = new AvroCodec<>(ClickEvent.class);
        assertThrows(NullPointerException.class, () -> codec.encode(null));
        ClickEvent broken = SampleRecords.click();
        broken.setEventId(null); // required field
        RecordFormatException e = assertThrows(RecordFormatException.class, () -> codec.encode(broken));
        assertTrue(e.getMessage().contains("ClickEvent"), e.getMessage());
        assertEquals(Instant.ofEpochMilli(0), codec.decode(codec.encode(SampleRecords.click())).getEventTime());
    }

    private static <T extends SpecificRecord> void roundTrip(Class<T> type, T record) {
        AvroCodec<T> codec = new AvroCodec<>(type);
        byte[] first = codec.encode(record);
        T back = codec.decode(first);
        assertEquals(record, back, type.getSimpleName());
        // Avro writes map entries in iteration order, and Map.of iterates in a per-JVM random order, so
        // only the decoded (HashMap) form re-encodes canonically: its bytes must then be stable.
        byte[] second = codec.encode(back);
        assertEquals(first.length, second.length, type.getSimpleName() + " re-encodes to the same length");
        assertArrayEquals(second, codec.encode(codec.decode(second)), type.getSimpleName() + " re-encodes to the same bytes");
    }
}
