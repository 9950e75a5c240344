package dev.freshet.ingest.internal;

import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.EventKind;
import dev.freshet.schemas.serde.SchemaCatalog;
import org.apache.avro.Schema;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * Writes a {@link ClickEvent}'s framed Avro bytes (the {@code AvroCodec} wire format: C3 01, writer
 * fingerprint, binary body) field by field, straight from the parser's values, without building a
 * ClickEvent, boxing doubles or cutting substrings. Replay spends most of its CPU here otherwise.
 * The output is byte-for-byte what {@code AvroCodec<ClickEvent>} writes (tested on every sample row);
 * if the ClickEvent schema changes, construction fails until this writer is updated.
 *
 * <p>Avro binary encoding (Avro 1.12 specification): int and long as zig-zag varints, double as 8
 * little-endian bytes, string as length then UTF-8, union as branch index then value, array as item
 * count, items, then a 0 count. Not thread-safe; reuse one per thread.
 */
public final class ClickEventWriter {
    /** The field list this writer encodes, in schema order; checked against the generated class at start-up. */
    private static final String EXPECTED_FIELDS = "[eventId:STRING, eventTime:LONG, kind:ENUM, impressionId:UNION, label:UNION, "
            + "layoutId:LONG, dense:ARRAY, categorical:ARRAY]";
    private static final long FINGERPRINT = checkedFingerprint();

    private byte[] buf = new byte[1024];
    private int pos;
    private int arrayLeft;

    private static long checkedFingerprint() {
        Schema schema = ClickEvent.getClassSchema();
        String fields = schema.getFields().stream().map(f -> f.name() + ":" + f.schema().getType()).toList().toString();
        if (!fields.equals(EXPECTED_FIELDS) || !schema.getField("kind").schema().getEnumSymbols().equals(List.of("LABELED", "IMPRESSION", "CLICK"))) {
            throw new IllegalStateException("the ClickEvent schema changed (fields " + fields + "); ClickEventWriter writes "
                    + EXPECTED_FIELDS + ". Fix: update ClickEventWriter to the new schema.");
        }
        return SchemaCatalog.fingerprint(schema);
    }

    /** Starts a record: the header and the fixed leading fields; {@code eventId} is given as canonical UTF-8. */
    public void begin(byte[] eventId, long eventTimeMs, EventKind kind, String impressionId, Integer label, long layoutId) {
        pos = 0;
        ensure(10);
        buf[pos++] = (byte) 0xC3;
        buf[pos++] = 0x01;
        long fp = FINGERPRINT;
        for (int i = 0; i < 8; i++) {
            buf[pos++] = (byte) (fp >>> (8 * i));
        }
        bytes(eventId, 0, eventId.length);
        varLong(eventTimeMs);
        varLong(kind.ordinal());
        if (impressionId == null) {
            varLong(0);
        } else {
            varLong(1);
            byte[] utf8 = impressionId.getBytes(StandardCharsets.UTF_8);
            bytes(utf8, 0, utf8.length);
        }
        if (label == null) {
            varLong(0);
        } else {
            varLong(1);
            varLong(label);
        }
        varLong(layoutId);
    }

    /** Starts an array of {@code count} items; call {@link #endArray()} after exactly that many. */
    public void beginArray(int count) {
        if (count > 0) {
            varLong(count);
        }
        arrayLeft = count;
    }

    public void endArray() {
        if (arrayLeft != 0) {
            throw new IllegalStateException(arrayLeft + " array items missing");
        }
        varLong(0);
    }

    public void nullItem() {
        arrayLeft--;
        varLong(0);
    }

    public void doubleItem(double v) {
        arrayLeft--;
        varLong(1);
        ensure(8);
        long bits = Double.doubleToRawLongBits(v);
        for (int i = 0; i < 8; i++) {
            buf[pos++] = (byte) (bits >>> (8 * i));
        }
    }

    /** A string item the caller knows to be ASCII (validated hex digits, say): copied as is. */
    public void asciiItem(byte[] b, int from, int to) {
        arrayLeft--;
        varLong(1);
        bytes(b, from, to);
    }

    /** A string item given as UTF-8 {@code b[from, to)}; written as {@link #canonicalUtf8} gives it. */
    public void utf8Item(byte[] b, int from, int to) {
        arrayLeft--;
        varLong(1);
        if (isAscii(b, from, to)) {
            bytes(b, from, to);
        } else {
            byte[] canonical = canonicalUtf8(b, from, to);
            bytes(canonical, 0, canonical.length);
        }
    }

    /**
     * The bytes Avro writes for the String that {@code b[from, to)} decodes to: the input itself when it is
     * ASCII or valid UTF-8; malformed sequences become U+FFFD, as String decoding makes them.
     */
    public static byte[] canonicalUtf8(byte[] b, int from, int to) {
        if (isAscii(b, from, to)) {
            return Arrays.copyOfRange(b, from, to);
        }
        return new String(b, from, to - from, StandardCharsets.UTF_8).getBytes(StandardCharsets.UTF_8);
    }

    /** The finished record. */
    public byte[] toByteArray() {
        return Arrays.copyOf(buf, pos);
    }

    private void bytes(byte[] b, int from, int to) {
        int n = to - from;
        varLong(n);
        ensure(n);
        System.arraycopy(b, from, buf, pos, n);
        pos += n;
    }

    private static boolean isAscii(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b[i] < 0) return false;
        }
        return true;
    }

    private void varLong(long v) {
        if (v >= 0 && v < 64) {
            // Union branches, small counts and lengths: one byte (zig-zag of v is 2v), the common case.
            ensure(1);
            buf[pos++] = (byte) (v << 1);
            return;
        }
        ensure(10);
        long z = (v << 1) ^ (v >> 63);
        while ((z & ~0x7FL) != 0) {
            buf[pos++] = (byte) ((z & 0x7F) | 0x80);
            z >>>= 7;
        }
        buf[pos++] = (byte) z;
    }

    private void ensure(int more) {
        if (pos + more > buf.length) {
            buf = Arrays.copyOf(buf, Math.max(buf.length * 2, pos + more));
        }
    }
}
