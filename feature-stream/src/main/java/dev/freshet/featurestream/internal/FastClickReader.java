package dev.freshet.featurestream.internal;

import dev.freshet.features.FeatureTransform;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.serde.AvroCodec;
import dev.freshet.schemas.serde.SchemaCatalog;

import java.nio.charset.StandardCharsets;

/**
 * The decoder's fast path: reads a ClickEvent written with this build's schema straight from its
 * Avro binary body into a {@link FeatureRow}, hashing categorical values from their bytes without
 * making a String, a boxed Double or a List for each (the generic reader made 40 objects per event and
 * spent most of the job's decode time on them).
 *
 * <p>It only accepts what it is sure of: the writer fingerprint of the current ClickEvent schema, an
 * event that passes every check of {@link ClickDecoder}, ASCII categorical values (whose bytes are
 * their UTF-16 code units, so {@link FeatureTransform#row} hashes them exactly as it hashes the String).
 * For anything else it returns null and the caller takes the generic path, which resolves other
 * schema versions and words the dead-letter reason. Field order follows ClickEvent.avsc.
 *
 * <p>Not thread-safe (reuses one view of the bytes).
 */
final class FastClickReader {
    private static final long FINGERPRINT = SchemaCatalog.fingerprint(ClickEvent.getClassSchema());
    private static final float[] NO_DENSE = new float[0];
    private static final int[] NO_SPARSE = new int[0];

    /** Whole numbers below this have their dense values looked up (about 89% of Criteo's non-missing dense values). */
    static final int SMALL = 256;
    private static final long NEGATIVE_ZERO = Double.doubleToRawLongBits(-0.0);

    private final FeatureTransform transform;
    /**
     * transform.dense(n, v) for v = 0, 1, ..., SMALL - 1, [numDense, SMALL]: computed by the transform itself,
     * so a lookup gives exactly its result, without the native log1p call (the largest cost of a dense value).
     */
    private final float[] smallDense;
    private final long layoutId;
    private final int numDense;
    private final int numSparse;
    private final AsciiView view = new AsciiView();
    private byte[] b;
    private int pos;
    private int end;

    FastClickReader(FeatureTransform transform, long layoutId, int numDense, int numSparse) {
        this.transform = transform;
        this.layoutId = layoutId;
        this.numDense = numDense;
        this.numSparse = numSparse;
        this.smallDense = new float[numDense * SMALL];
        for (int n = 0; n < numDense; n++) {
            for (int v = 0; v < SMALL; v++) {
                smallDense[n * SMALL + v] = transform.dense(n, v);
            }
        }
    }

    /** {@code transform.dense(n, v)}, from the table where v is a small whole number (not -0.0: a NUMERIC column keeps its sign). */
    private float dense(int n, double v) {
        int whole = (int) v;
        if (whole == v && whole >= 0 && whole < SMALL && Double.doubleToRawLongBits(v) != NEGATIVE_ZERO) {
            return smallDense[n * SMALL + whole];
        }
        return transform.dense(n, v);
    }

    /** The row, or null where the generic path must decide. */
    FeatureRow read(byte[] value) {
        if (value == null || value.length < AvroCodec.HEADER_BYTES || value[0] != (byte) 0xC3 || value[1] != 0x01) {
            return null;
        }
        long fp = 0;
        for (int i = 7; i >= 0; i--) fp = (fp << 8) | (value[2 + i] & 0xFF);
        if (fp != FINGERPRINT) {
            return null;
        }
        b = value;
        pos = AvroCodec.HEADER_BYTES;
        end = value.length;
        try {
            return body();
        } catch (ArrayIndexOutOfBoundsException | IllegalStateException e) {
            return null; // truncated or corrupt: the generic path says how
        }
    }

    private FeatureRow body() {
        int idLen = readInt();
        if (idLen <= 0 || pos + idLen > end) return null;
        boolean asciiId = true;
        for (int k = pos; k < pos + idLen; k++) {
            if (b[k] < 0) {
                asciiId = false;
                break;
            }
        }
        String id = new String(b, pos, idLen, asciiId ? StandardCharsets.ISO_8859_1 : StandardCharsets.UTF_8);
        // Hashing the bytes gives the same value as hashing the String when they are ASCII, and skips a pass over its chars.
        long idHash = asciiId ? ClickDecoder.idHashAscii(b, pos, idLen) : ClickDecoder.idHash(id);
        pos += idLen;
        long time = readLong();
        if (time < 0) return null;
        int kind = readInt();
        String impressionId = null;
        int impressionBranch = readInt();
        if (impressionBranch == 1) {
            int len = readInt();
            if (len < 0 || pos + len > end) return null;
            impressionId = new String(b, pos, len, StandardCharsets.UTF_8);
            pos += len;
        } else if (impressionBranch != 0) {
            return null;
        }
        int labelBranch = readInt();
        int label = -1;
        if (labelBranch == 1) {
            label = readInt();
        } else if (labelBranch != 0) {
            return null;
        }
        long layout = readLong();
        if (kind == 2) { // CLICK: features are not used
            if (impressionId == null || impressionId.isEmpty()) return null;
            skipDense();
            skipCategorical();
            if (pos != end) return null;
            return new FeatureRow(id, idHash, FeatureRow.CLICK, impressionId, time, (byte) 1, NO_DENSE, NO_SPARSE);
        }
        if (layout != layoutId || (kind != 0 && kind != 1)) return null;
        if (kind == 0 && label != 0 && label != 1) return null;
        float[] dense = new float[numDense];
        int n = 0;
        for (long count = readBlockCount(); count != 0; count = readBlockCount()) {
            for (long i = 0; i < count; i++) {
                if (n >= numDense) return null;
                int branch = readInt();
                if (branch == 0) {
                    dense[n] = transform.dense(n, Double.NaN);
                } else if (branch == 1) {
                    double v = readDouble();
                    if (!Double.isFinite(v)) return null;
                    dense[n] = dense(n, v);
                } else {
                    return null;
                }
                n++;
            }
        }
        if (n != numDense) return null;
        int[] sparse = new int[numSparse];
        int t = 0;
        for (long count = readBlockCount(); count != 0; count = readBlockCount()) {
            for (long i = 0; i < count; i++) {
                if (t >= numSparse) return null;
                int branch = readInt();
                if (branch == 0) {
                    sparse[t] = transform.row(t, null);
                } else if (branch == 1) {
                    int len = readInt();
                    if (len < 0 || pos + len > end) return null;
                    for (int k = pos; k < pos + len; k++) {
                        if (b[k] < 0) return null; // not ASCII: let the generic path decode the String
                    }
                    view.set(b, pos, len);
                    sparse[t] = transform.row(t, view);
                    pos += len;
                } else {
                    return null;
                }
                t++;
            }
        }
        if (t != numSparse || pos != end) return null;
        return new FeatureRow(id, idHash, kind == 1 ? FeatureRow.IMPRESSION : FeatureRow.LABELED, null, time,
                (byte) (kind == 0 ? label : 0), dense, sparse);
    }

    private void skipDense() {
        for (long count = readBlockCount(); count != 0; count = readBlockCount()) {
            for (long i = 0; i < count; i++) {
                if (readInt() == 1) pos += 8;
            }
        }
    }

    private void skipCategorical() {
        for (long count = readBlockCount(); count != 0; count = readBlockCount()) {
            for (long i = 0; i < count; i++) {
                if (readInt() == 1) pos += readInt();
            }
        }
    }

    /** An array block's item count; a negative count is followed by the block's byte size (Avro spec). */
    private long readBlockCount() {
        long count = readLong();
        if (count < 0) {
            readLong();
            count = -count;
        }
        return count;
    }

    private int readInt() {
        long v = readLong();
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) throw new IllegalStateException("int out of range");
        return (int) v;
    }

    /** Avro's zig-zag varint. */
    private long readLong() {
        long raw = 0;
        int shift = 0;
        while (true) {
            if (pos >= end || shift > 63) throw new IllegalStateException("truncated varint");
            int x = b[pos++] & 0xFF;
            raw |= (long) (x & 0x7F) << shift;
            if ((x & 0x80) == 0) break;
            shift += 7;
        }
        return (raw >>> 1) ^ -(raw & 1);
    }

    private double readDouble() {
        if (pos + 8 > end) throw new IllegalStateException("truncated double");
        long bits = 0;
        for (int i = 7; i >= 0; i--) bits = (bits << 8) | (b[pos + i] & 0xFF);
        pos += 8;
        return Double.longBitsToDouble(bits);
    }

    /** ASCII bytes seen as chars, without copying. */
    private static final class AsciiView implements CharSequence {
        private byte[] bytes;
        private int offset;
        private int length;

        void set(byte[] bytes, int offset, int length) {
            this.bytes = bytes;
            this.offset = offset;
            this.length = length;
        }

        @Override
        public int length() {
            return length;
        }

        @Override
        public char charAt(int index) {
            return (char) bytes[offset + index];
        }

        @Override
        public CharSequence subSequence(int start, int stop) {
            return new String(bytes, offset + start, stop - start, StandardCharsets.US_ASCII);
        }

        @Override
        public String toString() {
            return new String(bytes, offset, length, StandardCharsets.US_ASCII);
        }
    }
}
