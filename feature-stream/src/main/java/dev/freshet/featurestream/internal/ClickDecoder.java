package dev.freshet.featurestream.internal;

import dev.freshet.features.FeatureLayout;
import dev.freshet.features.FeatureTransform;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.EventKind;
import dev.freshet.schemas.serde.AvroCodec;
import dev.freshet.schemas.serde.RecordFormatException;
import org.apache.flink.types.Either;

import java.util.List;
import java.util.Objects;

/**
 * Bytes of a {@code clicks} record to a {@link FeatureRow}, or to a {@link DeadLetter} saying why not.
 * Decoding, validation and the feature transform happen in one pass here, at the source, so that a
 * rejected record still has its original bytes and source position for the dead-letter topic.
 *
 * <p>What is rejected (category in brackets): bytes that are not a ClickEvent [undecodable]; an event
 * made under another feature layout, i.e. other feature names, kinds, table sizes or hash seed
 * [unknown-layout]; too few or too many dense or categorical values [wrong-shape]; NaN or infinite
 * dense values, a label other than 0/1, a negative event time, a missing id [invalid-value].
 *
 * <p>Not thread-safe: one per source reader (it reuses the Avro decoder and record).
 */
public final class ClickDecoder {
    public static final String UNDECODABLE = "undecodable";
    public static final String UNKNOWN_LAYOUT = "unknown-layout";
    public static final String WRONG_SHAPE = "wrong-shape";
    public static final String INVALID_VALUE = "invalid-value";

    private static final float[] NO_DENSE = new float[0];
    private static final int[] NO_SPARSE = new int[0];

    private final FeatureLayout layout;
    private final FeatureTransform transform;
    private final long layoutId;
    private final List<FeatureLayout.Column> denseColumns;
    private final List<FeatureLayout.Column> categoricalColumns;
    private final AvroCodec<ClickEvent> codec = new AvroCodec<>(ClickEvent.class);
    private final FastClickReader fast;
    private ClickEvent reuse;

    public ClickDecoder(FeatureLayout layout) {
        this.layout = Objects.requireNonNull(layout, "layout");
        this.transform = new FeatureTransform(layout);
        this.layoutId = layout.id();
        this.denseColumns = layout.dense();
        this.categoricalColumns = layout.categorical();
        this.fast = new FastClickReader(transform, layoutId, denseColumns.size(), categoricalColumns.size());
    }

    /** Decodes one record value; never throws for bad input. */
    public Either<FeatureRow, DeadLetter> decode(byte[] key, byte[] value, String topic, int partition, long offset) {
        FeatureRow quick = fast.read(value);
        if (quick != null) {
            return Either.Left(withSource(quick, key, value, topic, partition, offset));
        }
        return decodeGeneric(key, value, topic, partition, offset);
    }

    /** A click keeps its record: whether it is late is decided later, in the join, which then needs the original bytes. */
    private static FeatureRow withSource(FeatureRow row, byte[] key, byte[] value, String topic, int partition, long offset) {
        if (row.kind == FeatureRow.CLICK) {
            row.source = new SourceRecord(topic, partition, offset, key, value);
        }
        return row;
    }

    /** The generic Avro path: any known writer schema, and the words for every rejection. */
    Either<FeatureRow, DeadLetter> decodeGeneric(byte[] key, byte[] value, String topic, int partition, long offset) {
        ClickEvent event;
        try {
            if (value == null) {
                throw new RecordFormatException("record has no value (a tombstone?)");
            }
            event = codec.decode(value, 0, value.length, reuse);
            reuse = event;
        } catch (RecordFormatException e) {
            return Either.Right(new DeadLetter(UNDECODABLE, "cannot decode a ClickEvent: " + e.getMessage(), topic, partition, offset, key, value));
        }
        String problem = null;
        String category = INVALID_VALUE;
        FeatureRow row = null;
        try {
            row = toRow(event);
        } catch (Rejected r) {
            problem = r.getMessage();
            category = r.category;
        }
        if (problem != null) {
            return Either.Right(new DeadLetter(category, problem, topic, partition, offset, key, value));
        }
        return Either.Left(withSource(row, key, value, topic, partition, offset));
    }

    /** Validates and transforms a decoded event; throws {@link Rejected} naming the offending value. */
    public FeatureRow toRow(ClickEvent event) {
        String id = event.getEventId();
        long time = event.getEventTime() == null ? -1 : event.getEventTime().toEpochMilli();
        if (id == null || id.isEmpty()) {
            throw new Rejected(INVALID_VALUE, "event at time " + time + " has an empty eventId; dedup and the "
                    + "impression/click join need a unique id. Fix: give every event an id in the producer.");
        }
        if (time < 0) {
            throw new Rejected(INVALID_VALUE, "event " + id + " has event time " + event.getEventTime()
                    + " (before 1970); event times are epoch milliseconds. Fix: set eventTime in the producer.");
        }
        EventKind kind = event.getKind();
        if (kind == EventKind.CLICK) {
            String impression = event.getImpressionId();
            if (impression == null || impression.isEmpty()) {
                throw new Rejected(INVALID_VALUE, "CLICK event " + id + " names no impressionId, so it cannot be joined to an "
                        + "impression. Fix: set impressionId to the clicked impression's eventId.");
            }
            return new FeatureRow(id, idHash(id), FeatureRow.CLICK, impression, time, (byte) 1, NO_DENSE, NO_SPARSE);
        }
        if (event.getLayoutId() != layoutId) {
            throw new Rejected(UNKNOWN_LAYOUT, String.format("event %s was made under feature layout %016x, which this job "
                    + "does not know: its features (names, kinds, table sizes, hash seed) may differ. The job runs layout "
                    + "%016x '%s' (%d dense, %d categorical: %s). Fix: produce with this layout (features.columns), or run a "
                    + "feature job configured with the producer's layout.", id, event.getLayoutId(), layoutId, layout.name(),
                    denseColumns.size(), categoricalColumns.size(), layout.spec()));
        }
        byte label = 0;
        if (kind == EventKind.LABELED) {
            Integer l = event.getLabel();
            if (l == null || (l != 0 && l != 1)) {
                throw new Rejected(INVALID_VALUE, "LABELED event " + id + " has label " + l + "; allowed 0 or 1. Fix: send "
                        + "IMPRESSION and CLICK events for unlabelled traffic, or set the label to 0 or 1.");
            }
            label = (byte) (int) l;
        }
        List<Double> dense = event.getDense();
        List<String> categorical = event.getCategorical();
        if (dense.size() != denseColumns.size() || categorical.size() != categoricalColumns.size()) {
            throw new Rejected(WRONG_SHAPE, "event " + id + " has " + dense.size() + " dense and " + categorical.size()
                    + " categorical values; layout '" + layout.name() + "' has " + denseColumns.size() + " dense and "
                    + categoricalColumns.size() + " categorical features. Fix: send one value (or null) per feature in layout order.");
        }
        float[] d = new float[dense.size()];
        for (int i = 0; i < d.length; i++) {
            Double v = dense.get(i);
            if (v == null) {
                d[i] = transform.dense(i, Double.NaN);
            } else if (!Double.isFinite(v)) {
                throw new Rejected(INVALID_VALUE, "dense feature " + denseColumns.get(i).name() + " of event " + id + " is " + v
                        + "; values must be finite. Fix: send null for a missing value.");
            } else {
                d[i] = transform.dense(i, v);
            }
        }
        int[] s = new int[categorical.size()];
        for (int t = 0; t < s.length; t++) {
            s[t] = transform.row(t, categorical.get(t));
        }
        return new FeatureRow(id, idHash(id), kind == EventKind.IMPRESSION ? FeatureRow.IMPRESSION : FeatureRow.LABELED,
                null, time, label, d, s);
    }

    /** FNV-1a over the id's UTF-16 units, then SplitMix64's finaliser; 64 bits make a collision within a dedup window negligible. */
    public static long idHash(String id) {
        long h = FNV_OFFSET;
        for (int i = 0, n = id.length(); i < n; i++) {
            h ^= id.charAt(i);
            h *= FNV_PRIME;
        }
        return finishIdHash(h);
    }

    /**
     * {@link #idHash(String)} of an id given as ASCII bytes, each of which is then its own UTF-16 unit,
     * without making the String first. The caller checks that every byte is ASCII (below 0x80).
     */
    static long idHashAscii(byte[] bytes, int offset, int length) {
        long h = FNV_OFFSET;
        for (int i = offset, end = offset + length; i < end; i++) {
            h ^= bytes[i];
            h *= FNV_PRIME;
        }
        return finishIdHash(h);
    }

    private static final long FNV_OFFSET = 0xcbf29ce484222325L;
    private static final long FNV_PRIME = 0x100000001b3L;

    private static long finishIdHash(long h) {
        h = (h ^ (h >>> 30)) * 0xbf58476d1ce4e5b9L;
        h = (h ^ (h >>> 27)) * 0x94d049bb133111ebL;
        return h ^ (h >>> 31);
    }

    /** Why an event was refused; a control-flow exception without a stack trace (bad input is routine). */
    public static final class Rejected extends RuntimeException {
        public final String category;

        Rejected(String category, String message) {
            super(message, null, false, false);
            this.category = category;
        }
    }
}
