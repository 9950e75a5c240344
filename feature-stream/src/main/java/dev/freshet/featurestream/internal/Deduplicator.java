package dev.freshet.featurestream.internal;

import dev.freshet.featurestream.FeatureJobMetrics;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Drops an event whose id was already seen within the dedup window (event time), keyed by the id's
 * 64-bit hash. The first occurrence sets a flag and an event-time timer at {@code eventTime + window}
 * that forgets it, so state holds about events/s times the window keys and is checkpointed with the job
 * (a restarted job still knows what it has seen).
 */
public final class Deduplicator extends KeyedProcessFunction<Long, FeatureRow, FeatureRow> {
    private final long windowMs;
    private transient ValueState<Boolean> seen;
    private transient Counter duplicates;

    public Deduplicator(long windowMs) {
        this.windowMs = windowMs;
    }

    @Override
    public void open(OpenContext context) {
        seen = getRuntimeContext().getState(new ValueStateDescriptor<>("seen", Boolean.class));
        duplicates = getRuntimeContext().getMetricGroup().addGroup(FeatureJobMetrics.GROUP).counter(FeatureJobMetrics.DUPLICATES);
    }

    @Override
    public void processElement(FeatureRow row, Context ctx, Collector<FeatureRow> out) throws Exception {
        if (seen.value() != null) {
            duplicates.inc();
            return;
        }
        seen.update(Boolean.TRUE);
        ctx.timerService().registerEventTimeTimer(row.eventTime + windowMs);
        out.collect(row);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<FeatureRow> out) {
        seen.clear();
    }
}
