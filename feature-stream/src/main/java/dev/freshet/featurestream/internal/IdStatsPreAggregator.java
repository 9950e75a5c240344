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
 *
 * <p>Rows are sketched in blocks of {@value #BLOCK}, table by table: one table's sketch (32 KiB) then
 * stays in cache for a whole block, where sketching each row across all tables would touch every
 * table's sketch (26 x 32 KiB for Criteo) for every example. Within a block each table's lookups are
 * first counted per distinct row ({@link RowCounts}) and the sketch takes each distinct row once with
 * its count: the counters end exactly as with one update per lookup, so the count-min error bounds
 * ({@link TableFrequencies}; Cormode and Muthukrishnan 2005) hold unchanged. On Criteo's columns a
 * block holds about 880 distinct rows per table (a fifth of its lookups), so this does a fifth of the
 * sketch updates and offers a frequent row to the top-k once per block instead of on every lookup.
 * (Blocks of 1,024 left 30% distinct and cost about 30% more per example; the buffer of 26 x 16 KiB
 * still stays in the core's L2 cache.)
 */
public final class IdStatsPreAggregator extends AbstractStreamOperator<PartialIdStats>
        implements OneInputStreamOperator<FeatureRow, PartialIdStats> {
    private final long windowMs;
    private final int numTables;
    private final int k;

    private transient TreeMap<Long, TableFrequencies[]> open;
    private transient ListState<PartialIdStats> checkpointed;
    private transient long watermark;
    static final int BLOCK = 4096;
    /**
     * Distance between two tables' rows in {@link #pending}: a block plus one cache line, so that the
     * 26 writes of one example do not all fall into the same L1 set (a stride of exactly 4 KiB does).
     */
    private static final int STRIDE = BLOCK + 16;

    private transient StreamRecord<PartialIdStats> outRecord;
    /** Rows waiting to be sketched, transposed: [numTables, STRIDE], the first pendingCount of each used; all in window {@code pendingStart}. */
    private transient int[] pending;
    private transient RowCounts blockCounts;
    private transient int pendingCount;
    private transient long pendingStart;

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
        pending = new int[numTables * STRIDE];
        pendingCount = 0;
        blockCounts = new RowCounts(BLOCK);
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
        if (pendingCount > 0 && start != pendingStart) {
            sketchPending();
        }
        pendingStart = start;
        int[] sparse = row.sparse;
        int i = pendingCount;
        for (int t = 0; t < numTables; t++) {
            pending[t * STRIDE + i] = sparse[t];
        }
        if (++pendingCount == BLOCK) {
            sketchPending();
        }
    }

    private void sketchPending() {
        if (pendingCount == 0) return;
        TableFrequencies[] tables = window(pendingStart);
        RowCounts counts = blockCounts;
        for (int t = 0; t < numTables; t++) {
            for (int i = 0, at = t * STRIDE; i < pendingCount; i++, at++) {
                counts.add(pending[at]);
            }
            tables[t].addAll(counts);
            counts.clear();
        }
        pendingCount = 0;
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        sketchPending();
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
        }
        super.processWatermark(mark);
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        sketchPending();
        List<PartialIdStats> parts = new ArrayList<>();
        for (Map.Entry<Long, TableFrequencies[]> e : open.entrySet()) {
            for (int t = 0; t < numTables; t++) {
                parts.add(e.getValue()[t].toCheckpoint(t, e.getKey(), e.getKey() + windowMs));
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
