package dev.freshet.featurestream.internal;

/**
 * An event the job could not turn into an example, on its way to {@code features.dlq}: the original
 * bytes where the job still has them, where they came from, and why they were rejected.
 */
public class DeadLetter {
    /** A short, stable category for metrics and tests ("undecodable", "invalid", "unknown-layout", "late-click", ...). */
    public String category;
    /** The full reason, written to the record's headers. */
    public String reason;
    public String sourceTopic;
    public int sourcePartition;
    public long sourceOffset;
    public byte[] key;
    public byte[] value;

    public DeadLetter() {
    }

    public DeadLetter(String category, String reason, String sourceTopic, int sourcePartition, long sourceOffset,
                      byte[] key, byte[] value) {
        this.category = category;
        this.reason = reason;
        this.sourceTopic = sourceTopic;
        this.sourcePartition = sourcePartition;
        this.sourceOffset = sourceOffset;
        this.key = key;
        this.value = value;
    }

    @Override
    public String toString() {
        return "DeadLetter{" + category + ": " + reason + " @" + sourceTopic + "/" + sourcePartition + "@" + sourceOffset + "}";
    }
}
