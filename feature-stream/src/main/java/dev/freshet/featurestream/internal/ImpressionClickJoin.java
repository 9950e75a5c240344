package dev.freshet.featurestream.internal;

import dev.freshet.featurestream.FeatureJobMetrics;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

import java.nio.charset.StandardCharsets;

/**
 * Labels impressions by their clicks, in event time, keyed by the impression's event id (a CLICK's
 * impressionId). An impression at time t is labelled 1 as soon as a click on it with event time in
 * [t, t + W] arrives (W = label window), or 0 when the watermark passes t + W without one.
 *
 * <p>Per impression the state moves through:
 * <pre>
 *   (none) --impression--> PENDING --click in window--> CLICKED  (emit label 1)
 *                                  --watermark t+W-----> UNCLICKED (emit label 0)
 *   (none) --click first--> CLICK_WAITING --impression--> CLICKED (emit label 1)
 *                                         --watermark passes the click--> orphan click
 * </pre>
 * CLICKED and UNCLICKED are kept for another W after t + W as tombstones, so that a click arriving
 * after the window closed is recognised as late (counted and sent to the dead-letter output with the
 * reason and the click's original record, key and value bytes and source position, as decoding
 * failures are) rather than mistaken for a click on an unknown impression. A click whose event time is past
 * its impression's window is late too, even if it arrives early. Nothing is dropped silently: every
 * click ends up in a label, a counter, or both.
 */
public final class ImpressionClickJoin extends KeyedProcessFunction<String, FeatureRow, FeatureRow> {
    public static final String LATE_CLICK = "late-click";
    public static final String ORPHAN_CLICK = "orphan-click";

    private static final byte PENDING = 1;
    private static final byte CLICK_WAITING = 2;
    private static final byte CLICKED = 3;
    private static final byte UNCLICKED = 4;

    private final long windowMs;
    private final OutputTag<DeadLetter> deadLetters;
    private transient ValueState<JoinState> state;
    private transient Counter clicked;
    private transient Counter unclicked;
    private transient Counter late;
    private transient Counter orphan;
    private transient Counter repeat;
    private transient Counter duplicates;

    /** What the join knows about one impression. A POJO so that Flink serializes it without Kryo. */
    public static class JoinState {
        public byte phase;
        /** The impression while PENDING, else null. */
        public FeatureRow impression;
        /** The impression's event time (or the waiting click's). */
        public long time;
        /** The timer that moves this state on. */
        public long deadline;
        /** CLICK_WAITING: the waiting click's id. */
        public String clickId;
        /** CLICK_WAITING: the record the waiting click came from, for the dead letter if it turns out late or orphaned. */
        public SourceRecord clickSource;

        public JoinState() {
        }

        JoinState(byte phase, FeatureRow impression, long time, long deadline) {
            this.phase = phase;
            this.impression = impression;
            this.time = time;
            this.deadline = deadline;
        }
    }

    public ImpressionClickJoin(long windowMs, OutputTag<DeadLetter> deadLetters) {
        this.windowMs = windowMs;
        this.deadLetters = deadLetters;
    }

    @Override
    public void open(OpenContext context) {
        state = getRuntimeContext().getState(new ValueStateDescriptor<>("impression", JoinState.class));
        MetricGroup g = getRuntimeContext().getMetricGroup().addGroup(FeatureJobMetrics.GROUP);
        clicked = g.counter(FeatureJobMetrics.IMPRESSIONS_CLICKED);
        unclicked = g.counter(FeatureJobMetrics.IMPRESSIONS_UNCLICKED);
        late = g.counter(FeatureJobMetrics.LATE_CLICKS);
        orphan = g.counter(FeatureJobMetrics.ORPHAN_CLICKS);
        repeat = g.counter(FeatureJobMetrics.REPEAT_CLICKS);
        duplicates = g.counter(FeatureJobMetrics.DUPLICATES);
    }

    @Override
    public void processElement(FeatureRow row, Context ctx, Collector<FeatureRow> out) throws Exception {
        JoinState s = state.value();
        if (row.kind == FeatureRow.IMPRESSION) {
            onImpression(row, s, ctx, out);
        } else if (row.kind == FeatureRow.CLICK) {
            onClick(row, s, ctx, out);
        } else {
            out.collect(row);
        }
    }

    private void onImpression(FeatureRow imp, JoinState s, Context ctx, Collector<FeatureRow> out) throws Exception {
        long closes = imp.eventTime + windowMs;
        if (s == null) {
            state.update(new JoinState(PENDING, imp, imp.eventTime, closes));
            ctx.timerService().registerEventTimeTimer(closes);
        } else if (s.phase == CLICK_WAITING) {
            ctx.timerService().deleteEventTimeTimer(s.deadline);
            if (s.time >= imp.eventTime && s.time <= closes) {
                emit(imp, (byte) 1, out);
                close(s, CLICKED, imp.eventTime, ctx);
            } else {
                lateClick(s.clickId, s.clickSource, s.time, imp.eventTime, ctx);
                state.update(new JoinState(PENDING, imp, imp.eventTime, closes));
                ctx.timerService().registerEventTimeTimer(closes);
            }
        } else {
            // The same impression again after dedup forgot it: its label is already decided.
            duplicates.inc();
        }
    }

    private void onClick(FeatureRow click, JoinState s, Context ctx, Collector<FeatureRow> out) throws Exception {
        if (s == null) {
            // The click overtook its impression. Once the watermark passes the click's time, every
            // impression at or before it has arrived (unless itself late), so wait until then.
            long deadline = Math.max(click.eventTime, ctx.timerService().currentWatermark() + 1);
            JoinState waiting = new JoinState(CLICK_WAITING, null, click.eventTime, deadline);
            waiting.clickId = click.eventId;
            waiting.clickSource = click.source;
            state.update(waiting);
            ctx.timerService().registerEventTimeTimer(deadline);
            return;
        }
        switch (s.phase) {
            case PENDING -> {
                if (click.eventTime <= s.time + windowMs) {
                    ctx.timerService().deleteEventTimeTimer(s.deadline);
                    emit(s.impression, (byte) 1, out);
                    close(s, CLICKED, s.time, ctx);
                } else {
                    lateClick(click.eventId, click.source, click.eventTime, s.time, ctx);
                }
            }
            case UNCLICKED -> lateClick(click.eventId, click.source, click.eventTime, s.time, ctx);
            default -> repeat.inc(); // CLICKED or CLICK_WAITING: this impression already has a click
        }
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<FeatureRow> out) throws Exception {
        JoinState s = state.value();
        if (s == null || timestamp != s.deadline) {
            return;
        }
        switch (s.phase) {
            case PENDING -> {
                emit(s.impression, (byte) 0, out);
                close(s, UNCLICKED, s.time, ctx);
            }
            case CLICK_WAITING -> {
                orphan.inc();
                ctx.output(deadLetters, letter(ORPHAN_CLICK, "click " + s.clickId + " at " + s.time + " on impression " + ctx.getCurrentKey()
                        + ", which did not arrive before the watermark passed the click. Fix: produce the impression before (or with) "
                        + "its click, or raise feature-stream.allowed-lateness if impressions arrive late.", s.clickId, s.clickSource));
                state.clear();
            }
            default -> state.clear(); // tombstone expired
        }
    }

    private void emit(FeatureRow impression, byte label, Collector<FeatureRow> out) {
        (label == 1 ? clicked : unclicked).inc();
        out.collect(impression.withLabel(label));
    }

    /** Keeps a tombstone until t + 2W so that later clicks are recognised as late. */
    private void close(JoinState s, byte phase, long impressionTime, Context ctx) throws Exception {
        long expires = impressionTime + 2 * windowMs;
        state.update(new JoinState(phase, null, impressionTime, expires));
        ctx.timerService().registerEventTimeTimer(expires);
    }

    private void lateClick(String clickId, SourceRecord source, long clickTime, long impressionTime, Context ctx) {
        late.inc();
        ctx.output(deadLetters, letter(LATE_CLICK, "click " + clickId + " at " + clickTime + " on impression " + ctx.getCurrentKey()
                + " at " + impressionTime + " came after the impression's label window (" + windowMs + " ms) closed; the impression "
                + "keeps label 0. Fix: raise feature-stream.label-window if clicks this late should count.", clickId, source));
    }

    /**
     * A dead letter for a click, with the record it was decoded from (key, value, topic, partition, offset)
     * as the decoder's letters have; a click row made without one (not from the source) gets its id as key.
     */
    private static DeadLetter letter(String category, String reason, String clickId, SourceRecord source) {
        if (source == null) {
            return new DeadLetter(category, reason, null, -1, -1, clickId == null ? null : clickId.getBytes(StandardCharsets.UTF_8), null);
        }
        return new DeadLetter(category, reason, source.topic, source.partition, source.offset, source.key, source.value);
    }
}
