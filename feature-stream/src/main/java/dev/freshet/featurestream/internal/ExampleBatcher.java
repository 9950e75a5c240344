package dev.freshet.featurestream.internal;

import dev.freshet.featurestream.FeatureJobMetrics;
import dev.freshet.features.Examples;
import dev.freshet.schemas.FeatureBatch;
import dev.freshet.schemas.serde.AvroCodec;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/**
 * Packs examples into columnar {@link FeatureBatch} records ({@link Examples}, many per Kafka record)
 * and encodes them. A batch is written when it holds {@code batchSize} examples, when its first
 * example has waited {@code linger} (processing time), at end of input, and always right before a
 * checkpoint barrier ({@link #prepareSnapshotPreBarrier}): the buffer is therefore empty in every
 * checkpoint and each example lands in exactly one Kafka transaction, so batching keeps the job
 * exactly-once without keeping the buffer in state.
 *
 * <p>Output: encoded FeatureBatch bytes, timestamped with the batch's largest event time (for watermark-free consumers in the job; the Kafka record gets the write time).
 */
public final class ExampleBatcher extends AbstractStreamOperator<byte[]> implements OneInputStreamOperator<FeatureRow, byte[]> {
    private final long layoutId;
    private final int numDense;
    private final int numSparse;
    private final int batchSize;
    private final long lingerMs;

    private transient Examples examples;
    private transient AvroCodec<FeatureBatch> codec;
    private transient StreamRecord<byte[]> outRecord;
    private transient long maxEventTime;
    /** Counts flushes, so that a linger timer set for an earlier batch does not flush a younger one. */
    private transient long generation;
    private transient Counter examplesOut;
    private transient Counter batchesOut;

    public ExampleBatcher(long layoutId, int numDense, int numSparse, int batchSize, long lingerMs) {
        this.layoutId = layoutId;
        this.numDense = numDense;
        this.numSparse = numSparse;
        this.batchSize = batchSize;
        this.lingerMs = lingerMs;
    }

    @Override
    public void open() throws Exception {
        super.open();
        examples = new Examples(batchSize, numDense, numSparse);
        examples.layoutId = layoutId;
        codec = new AvroCodec<>(FeatureBatch.class);
        outRecord = new StreamRecord<>(null);
        maxEventTime = Long.MIN_VALUE;
        examplesOut = getMetricGroup().addGroup(FeatureJobMetrics.GROUP).counter(FeatureJobMetrics.EXAMPLES);
        batchesOut = getMetricGroup().addGroup(FeatureJobMetrics.GROUP).counter(FeatureJobMetrics.BATCHES);
    }

    @Override
    public void processElement(StreamRecord<FeatureRow> element) {
        FeatureRow row = element.getValue();
        Examples e = examples;
        int i = e.count;
        if (row.dense.length != numDense || row.sparse.length != numSparse) {
            throw new IllegalStateException("example " + row.eventId + " has " + row.dense.length + " dense and " + row.sparse.length
                    + " sparse values; the batch expects " + numDense + " and " + numSparse + " (a bug: the decoder checks shapes)");
        }
        e.labels[i] = row.label;
        System.arraycopy(row.dense, 0, e.dense, i * numDense, numDense);
        System.arraycopy(row.sparse, 0, e.sparse, i * numSparse, numSparse);
        e.eventTimes[i] = row.eventTime;
        e.eventIds.add(row.eventId);
        e.count = i + 1;
        if (row.eventTime > maxEventTime) {
            maxEventTime = row.eventTime;
        }
        if (e.count >= batchSize) {
            flush();
        } else if (i == 0) {
            long mine = generation;
            var time = getProcessingTimeService();
            time.registerTimer(time.getCurrentProcessingTime() + lingerMs, t -> {
                if (generation == mine) {
                    flush();
                }
            });
        }
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        super.prepareSnapshotPreBarrier(checkpointId);
        flush();
    }

    @Override
    public void finish() throws Exception {
        flush();
        super.finish();
    }

    private void flush() {
        if (examples.count == 0) {
            return;
        }
        byte[] bytes = codec.encode(examples.toRecord());
        output.collect(outRecord.replace(bytes, maxEventTime));
        examplesOut.inc(examples.count);
        batchesOut.inc();
        examples.clear();
        maxEventTime = Long.MIN_VALUE;
        generation++;
    }
}
