package dev.freshet.featurestream.internal;

/**
 * One subtask's row frequencies of one table in one window, on their way to the merge: the raw
 * count-min counters ([DEPTH, WIDTH] row-major) and that subtask's heavy-hitter candidates.
 */
public class PartialIdStats {
    public int table;
    public long windowStart;
    public long windowEnd;
    public long total;
    public long[] sketch;
    public long[] candidates;

    public PartialIdStats() {
    }

    public PartialIdStats(int table, long windowStart, long windowEnd, long total, long[] sketch, long[] candidates) {
        this.table = table;
        this.windowStart = windowStart;
        this.windowEnd = windowEnd;
        this.total = total;
        this.sketch = sketch;
        this.candidates = candidates;
    }
}
