package dev.freshet.featurestream.internal;

import dev.freshet.featurestream.FeatureJobMetrics;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Drops an event whose id was already seen within the dedup window (event time): the first occurrence
 * at time t is remembered until the watermark passes t + window.
 *
 * <p>Keyed by a bucket of the id's 64-bit hash ({@link #bucket}, {@value #BUCKETS} buckets), not by the
 * id: each bucket's state is one {@link SeenIds} table of fingerprints with their expiry times, so an
 * event costs one state lookup and one hash probe, with no Flink timer per id (a per-id key plus timer
 * cost several times more and held about 10 times the memory). The tables are keyed state, so they are
 * checkpointed with the job and redistributed when the parallelism changes. Mutating the table in place
 * is safe with the heap state backend the job uses: its copy-on-write map hands out a copy while a
 * snapshot still references the original. Tables are copied and written by {@link SeenIdsSerializer}.
 */
public final class Deduplicator extends KeyedProcessFunction<Integer, FeatureRow, FeatureRow> {
    /** Enough buckets that each of the job's 128 key groups ({@code FeatureStreamConfig.MAX_PARALLELISM}) gets some (3 to 14). */
    public static final int BUCKETS = 1024;

    private final long windowMs;
    private transient ValueState<SeenIds> seen;
    private transient Counter duplicates;

    public Deduplicator(long windowMs) {
        this.windowMs = windowMs;
    }

    /** The dedup key of an event: top bits of its id hash. */
    public static int bucket(FeatureRow row) {
        return (int) (row.eventIdHash >>> 54);
    }

    @Override
    public void open(OpenContext context) {
        seen = getRuntimeContext().getState(new ValueStateDescriptor<>("seen-ids", SeenIdsSerializer.INSTANCE));
        duplicates = getRuntimeContext().getMetricGroup().addGroup(FeatureJobMetrics.GROUP).counter(FeatureJobMetrics.DUPLICATES);
    }

    @Override
    public void processElement(FeatureRow row, Context ctx, Collector<FeatureRow> out) throws Exception {
        SeenIds ids = seen.value();
        if (ids == null) {
            ids = new SeenIds();
            seen.update(ids);
        }
        // In place: the heap backend keeps this very object (see the class comment).
        boolean duplicate = ids.checkAndAdd(row.eventIdHash, row.eventTime + windowMs, ctx.timerService().currentWatermark());
        if (duplicate) {
            duplicates.inc();
        } else {
            out.collect(row);
        }
    }
}
