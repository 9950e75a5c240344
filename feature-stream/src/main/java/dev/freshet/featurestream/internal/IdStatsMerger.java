package dev.freshet.featurestream.internal;

import dev.freshet.featurestream.FeatureJobMetrics;
import dev.freshet.schemas.IdFrequencyStats;
import dev.freshet.schemas.serde.AvroCodec;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.typeinfo.BasicTypeInfo;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

import java.util.ArrayList;
import java.util.List;

/**
 * Second half of the ID-frequency statistics, keyed by table: adds up the subtasks' partial sketches
 * of a window and, when the watermark passes the window's end, writes one {@link IdFrequencyStats}
 * (top-k rows with their count-min estimates, most frequent first) as encoded bytes.
 */
public final class IdStatsMerger extends KeyedProcessFunction<Integer, PartialIdStats, byte[]> {
    private final List<String> tableNames;
    private final int k;
    private transient MapState<Long, PartialIdStats> windows;
    private transient AvroCodec<IdFrequencyStats> codec;
    private transient Counter written;

    public IdStatsMerger(List<String> tableNames, int k) {
        this.tableNames = new ArrayList<>(tableNames);
        this.k = k;
    }

    @Override
    public void open(OpenContext context) {
        windows = getRuntimeContext().getMapState(new MapStateDescriptor<>("windows", BasicTypeInfo.LONG_TYPE_INFO, RecordTypes.PARTIAL_STATS));
        codec = new AvroCodec<>(IdFrequencyStats.class);
        written = getRuntimeContext().getMetricGroup().addGroup(FeatureJobMetrics.GROUP).counter(FeatureJobMetrics.STATS_WINDOWS);
    }

    @Override
    public void processElement(PartialIdStats part, Context ctx, Collector<byte[]> out) throws Exception {
        PartialIdStats merged = windows.get(part.windowEnd);
        if (merged == null) {
            windows.put(part.windowEnd, part);
            ctx.timerService().registerEventTimeTimer(part.windowEnd - 1);
            return;
        }
        long[] sum = merged.sketch;
        for (int i = 0; i < sum.length; i++) sum[i] += part.sketch[i];
        long[] candidates = new long[merged.candidates.length + part.candidates.length];
        System.arraycopy(merged.candidates, 0, candidates, 0, merged.candidates.length);
        System.arraycopy(part.candidates, 0, candidates, merged.candidates.length, part.candidates.length);
        merged.candidates = candidates;
        merged.total += part.total;
        windows.put(part.windowEnd, merged);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<byte[]> out) throws Exception {
        PartialIdStats merged = windows.get(timestamp + 1);
        if (merged == null) return;
        windows.remove(timestamp + 1);
        // Re-rank every subtask's candidates by the merged sketch.
        TableFrequencies table = new TableFrequencies(k);
        table.merge(merged);
        long[] rows = table.topRows();
        List<Long> rowList = new ArrayList<>(rows.length);
        List<Long> counts = new ArrayList<>(rows.length);
        for (long r : rows) {
            rowList.add(r);
            counts.add(table.estimate(r));
        }
        IdFrequencyStats stats = IdFrequencyStats.newBuilder()
                .setTable(tableNames.get(merged.table))
                .setTableIndex(merged.table)
                .setWindowStart(java.time.Instant.ofEpochMilli(merged.windowStart))
                .setWindowEnd(java.time.Instant.ofEpochMilli(merged.windowEnd))
                .setTotalCount(table.total())
                .setRows(rowList)
                .setCounts(counts)
                .build();
        out.collect(codec.encode(stats));
        written.inc();
    }
}
