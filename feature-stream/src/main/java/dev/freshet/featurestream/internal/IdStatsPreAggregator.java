package dev.freshet.featurestream.internal;

import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * First half of the ID-frequency statistics: each subtask sketches the rows of the examples it sees
 * per table and tumbling event-time window ({@link TableFrequencies}), and when the watermark closes
 * a window emits one {@link PartialIdStats} per table, before forwarding the watermark, so that the
 * merge downstream ({@link IdStatsMerger}) has every subtask's part once its own watermark passes.
 * Pre-aggregating here keeps the shuffle to a few sketches per window instead of one record per
 * lookup. Open windows are checkpointed (as partials) so statistics survive a restart exactly once.
 */
public final class IdStatsPreAggregator extends AbstractStreamOperator<PartialIdStats>
        implements OneInputStreamOperator<FeatureRow, PartialIdStats> {
    private final long windowMs;
    private final int numTables;
    private final int k;

    private transient TreeMap<Long, TableFrequencies[]> open;
    private transient ListState<PartialIdStats> checkpointed;
    private transient long watermark;
    private transient StreamRecord<PartialIdStats> outRecord;
    // The window of the previous example: almost every example falls in the same one, so skip the map lookup.
    private transient long lastStart;
    private transient TableFrequencies[] lastTables;

    public IdStatsPreAggregator(long windowMs, int numTables, int k) {
        this.windowMs = windowMs;
        this.numTables = numTables;
        this.k = k;
    }

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        open = new TreeMap<>();
        watermark = Long.MIN_VALUE;
        lastStart = Long.MIN_VALUE;
        lastTables = null;
        checkpointed = context.getOperatorStateStore().getListState(new ListStateDescriptor<>("open-windows", RecordTypes.PARTIAL_STATS));
        if (context.isRestored()) {
            for (PartialIdStats p : checkpointed.get()) {
                window(p.windowStart)[p.table].merge(p);
            }
        }
    }

    @Override
    public void open() throws Exception {
        super.open();
        outRecord = new StreamRecord<>(null);
    }

    @Override
    public void processElement(StreamRecord<FeatureRow> element) {
        FeatureRow row = element.getValue();
        long start = row.eventTime - Math.floorMod(row.eventTime, windowMs);
        if (start + windowMs - 1 <= watermark) {
            // Its window was already reported; the example still trains, only the statistics miss it.
            return;
        }
        TableFrequencies[] tables = start == lastStart ? lastTables : window(start);
        lastStart = start;
        lastTables = tables;
        int[] sparse = row.sparse;
        for (int t = 0; t < numTables; t++) {
            tables[t].add(sparse[t]);
        }
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        watermark = mark.getTimestamp();
        for (Iterator<Map.Entry<Long, TableFrequencies[]>> it = open.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Long, TableFrequencies[]> e = it.next();
            long start = e.getKey();
            long end = start + windowMs;
            if (end - 1 > watermark) break;
            for (int t = 0; t < numTables; t++) {
                output.collect(outRecord.replace(e.getValue()[t].toPartial(t, start, end), end - 1));
            }
            it.remove();
            if (start == lastStart) {
                lastStart = Long.MIN_VALUE;
                lastTables = null;
            }
        }
        super.processWatermark(mark);
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        List<PartialIdStats> parts = new ArrayList<>();
        for (Map.Entry<Long, TableFrequencies[]> e : open.entrySet()) {
            for (int t = 0; t < numTables; t++) {
                parts.add(e.getValue()[t].toPartial(t, e.getKey(), e.getKey() + windowMs));
            }
        }
        checkpointed.update(parts);
    }

    private TableFrequencies[] window(long start) {
        TableFrequencies[] tables = open.get(start);
        if (tables == null) {
            tables = new TableFrequencies[numTables];
            for (int t = 0; t < numTables; t++) tables[t] = new TableFrequencies(k);
            open.put(start, tables);
        }
        return tables;
    }
}
