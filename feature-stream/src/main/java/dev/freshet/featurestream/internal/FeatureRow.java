package dev.freshet.featurestream.internal;

/**
 * One click event after decoding, validation and the feature transform: what flows between the
 * job's operators. A Flink POJO (public fields, no-arg constructor) so that Flink's own serializer,
 * not Kryo, moves it across the network; the feature arrays are primitive.
 *
 * <pre>
 * dense  [numDense]  normalised (FeatureTransform.dense)
 * sparse [numSparse] embedding row per table (FeatureTransform.row)
 * </pre>
 * CLICK rows carry no features (empty arrays): only their impressionId and time matter, and the record
 * they came from ({@link #source}), for the dead-letter topic should the click be late or orphaned.
 */
public class FeatureRow {
    public static final byte LABELED = 0;
    public static final byte IMPRESSION = 1;
    public static final byte CLICK = 2;

    public String eventId;
    /** 64-bit hash of eventId: what dedup remembers, and (top bits) its key; cheaper to hash and store than the string. */
    public long eventIdHash;
    public byte kind;
    /** CLICK only: the eventId of the impression clicked; null otherwise. */
    public String impressionId;
    public long eventTime;
    /** 0 or 1; for IMPRESSION rows decided by the join. */
    public byte label;
    public float[] dense;
    public int[] sparse;
    /** CLICK only: the record it was decoded from (null where unknown, and for other kinds: they never reach a dead letter after decoding). */
    public SourceRecord source;

    public FeatureRow() {
    }

    public FeatureRow(String eventId, long eventIdHash, byte kind, String impressionId, long eventTime, byte label,
                      float[] dense, int[] sparse) {
        this.eventId = eventId;
        this.eventIdHash = eventIdHash;
        this.kind = kind;
        this.impressionId = impressionId;
        this.eventTime = eventTime;
        this.label = label;
        this.dense = dense;
        this.sparse = sparse;
    }

    /** The key of the impression/click join: the impression's event id. */
    public String joinKey() {
        return kind == CLICK ? impressionId : eventId;
    }

    public FeatureRow withLabel(byte newLabel) {
        FeatureRow row = new FeatureRow(eventId, eventIdHash, kind, impressionId, eventTime, newLabel, dense, sparse);
        row.source = source;
        return row;
    }

    @Override
    public String toString() {
        return "FeatureRow{" + eventId + ", kind " + kind + ", t " + eventTime + ", label " + label + "}";
    }
}
