package dev.freshet.schemas.serde;

import dev.freshet.schemas.ClickEvent;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Records on topics outlive the code that wrote them: a reader must resolve bodies written with an
 * older or a newer schema (DEVELOPERS.md, "Records on topics"). Other writers are simulated with
 * generic records framed exactly as {@link AvroCodec} frames them.
 */
class SchemaEvolutionTest {
    /** ClickEvent as a next version might look: one field added, with a default. */
    private static final Schema NEWER_CLICK = addField(ClickEvent.getClassSchema(),
            "{\"name\": \"source\", \"type\": \"string\", \"default\": \"unknown\", \"doc\": \"where the event came from\"}");

    @Test
    void recordFromANewerWriterIsReadByTheCurrentReader() throws IOException {
        SchemaCatalog catalog = new SchemaCatalog();
        catalog.register(NEWER_CLICK); // as a newer writer announces its schema
        AvroCodec<ClickEvent> reader = new AvroCodec<>(ClickEvent.class, catalog);

        ClickEvent expected = SampleRecords.labeledClick();
        GenericRecord newer = toGeneric(expected, NEWER_CLICK);
        newer.put("source", "replay:criteo.tsv");
        byte[] bytes = frame(newer, NEWER_CLICK);

        assertNotEquals(reader.fingerprint(), AvroCodec.writerFingerprint("ClickEvent", bytes, 0, bytes.length));
        assertEquals(expected, reader.decode(bytes), "the added field is skipped, every other value kept");
    }

    @Test
    void recordFromANewerWriterWhoseSchemaIsUnknownIsRefusedNotMisread() throws IOException {
        byte[] bytes = frame(toGeneric(SampleRecords.click(), NEWER_CLICK), NEWER_CLICK);
        AvroCodec<ClickEvent> reader = new AvroCodec<>(ClickEvent.class, new SchemaCatalog());
        UnknownSchemaException e = assertThrows(UnknownSchemaException.class, () -> reader.decode(bytes));
        assertEquals(SchemaCatalog.fingerprint(NEWER_CLICK), e.fingerprint());
    }

    @Test
    void recordFromTheCurrentWriterIsReadByANewerReaderWithTheDefault() throws IOException {
        AvroCodec<ClickEvent> writer = new AvroCodec<>(ClickEvent.class);
        ClickEvent event = SampleRecords.click();
        byte[] bytes = writer.encode(event);

        Schema writerSchema = SchemaCatalog.defaultCatalog().find(AvroCodec.writerFingerprint("ClickEvent", bytes, 0, bytes.length));
        GenericDatumReader<GenericRecord> newerReader = new GenericDatumReader<>(writerSchema, NEWER_CLICK);
        GenericRecord read = newerReader.read(null, DecoderFactory.get().binaryDecoder(bytes, AvroCodec.HEADER_BYTES,
                bytes.length - AvroCodec.HEADER_BYTES, null));
        assertEquals("unknown", read.get("source").toString(), "the newer reader fills the added field's default");
        assertEquals(event.getEventId(), read.get("eventId").toString());
        assertEquals(event.getImpressionId(), read.get("impressionId").toString());
        assertEquals("CLICK", read.get("kind").toString());
        assertEquals(event.getEventTime().toEpochMilli(), read.get("eventTime"));
    }

    /** Every shipped schema in the history is known to the default catalog, and its records read with today's classes. */
    @Test
    void recordsWrittenWithEveryHistorySchemaAreReadByTheCurrentReader() throws IOException {
        List<String> names = historyNames();
        assertFalse(names.isEmpty(), "history/index.txt lists no schema");
        Map<String, SpecificRecord> samples = Map.of(
                "ClickEvent", SampleRecords.labeledClick(),
                "FeatureBatch", SampleRecords.featureBatch(),
                "IdFrequencyStats", SampleRecords.stats(),
                "ModelUpdate", SampleRecords.modelUpdate());
        for (String name : names) {
            Schema old;
            try (InputStream in = SchemaCatalog.class.getResourceAsStream("/dev/freshet/schemas/history/" + name)) {
                assertNotNull(in, name + " is listed but missing");
                old = new Schema.Parser().parse(in);
            }
            assertNotNull(SchemaCatalog.defaultCatalog().find(SchemaCatalog.fingerprint(old)), name + " not in the default catalog");
            SpecificRecord sample = samples.get(old.getName());
            assertNotNull(sample, "no sample record for " + old.getName() + " (" + name + "): add one to SampleRecords");
            // Project today's sample onto the old schema, write it as an old writer would, read it with today's class.
            GenericRecord asOld = toGeneric(sample, old);
            byte[] bytes = frame(asOld, old);
            SpecificRecord back = decodeWithCurrent(sample.getClass(), bytes);
            for (Schema.Field f : old.getFields()) {
                assertEquals(GenericData.get().toString(asOld.get(f.name())),
                        GenericData.get().toString(toGeneric(back, old).get(f.name())), name + " field " + f.name());
            }
        }
    }

    @SuppressWarnings("unchecked")
    private static <T extends SpecificRecord> T decodeWithCurrent(Class<?> type, byte[] bytes) {
        return new AvroCodec<>((Class<T>) type).decode(bytes);
    }

    private static List<String> historyNames() throws IOException {
        try (InputStream in = SchemaCatalog.class.getResourceAsStream("/dev/freshet/schemas/history/index.txt")) {
            assertNotNull(in, "history/index.txt missing");
            List<String> names = new ArrayList<>();
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                String n = line.trim();
                if (!n.isEmpty() && !n.startsWith("#")) names.add(n);
            }
            return names;
        }
    }

    private static Schema addField(Schema base, String fieldJson) {
        String json = base.toString();
        int end = json.lastIndexOf("]");
        return new Schema.Parser().parse(json.substring(0, end) + "," + fieldJson + json.substring(end));
    }

    /** The record as a generic record of {@code schema}, resolved by field name (missing fields take defaults). */
    private static GenericRecord toGeneric(SpecificRecord record, Schema schema) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        BinaryEncoder enc = EncoderFactory.get().binaryEncoder(out, null);
        new org.apache.avro.specific.SpecificDatumWriter<SpecificRecord>(record.getSchema()).write(record, enc);
        enc.flush();
        return new GenericDatumReader<GenericRecord>(record.getSchema(), schema, GenericData.get())
                .read(null, DecoderFactory.get().binaryDecoder(out.toByteArray(), null));
    }

    /** Frames a generic record as AvroCodec does: C3 01, writer fingerprint little-endian, body. */
    private static byte[] frame(GenericRecord record, Schema schema) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0xC3);
        out.write(0x01);
        long fp = SchemaCatalog.fingerprint(schema);
        for (int i = 0; i < 8; i++) out.write((int) (fp >>> (8 * i)) & 0xFF);
        BinaryEncoder enc = EncoderFactory.get().binaryEncoder(out, null);
        new GenericDatumWriter<GenericRecord>(schema, GenericData.get()).write(record, enc);
        enc.flush();
        return out.toByteArray();
    }
}
