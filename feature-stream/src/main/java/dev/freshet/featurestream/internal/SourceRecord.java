package dev.freshet.featurestream.internal;

/**
 * Where a record was read ({@code clicks} topic, partition, offset) and its original key and value bytes:
 * what a dead letter needs long after decoding. A CLICK row carries it ({@link FeatureRow#source}) to
 * the impression/click join, which is where a click turns out to be late or orphaned. A Flink POJO.
 */
public class SourceRecord {
    public String topic;
    public int partition;
    public long offset;
    public byte[] key;
    public byte[] value;

    public SourceRecord() {
    }

    public SourceRecord(String topic, int partition, long offset, byte[] key, byte[] value) {
        this.topic = topic;
        this.partition = partition;
        this.offset = offset;
        this.key = key;
        this.value = value;
    }
}
