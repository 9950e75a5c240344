package dev.freshet.featurestream.internal;

/**
 * Row frequencies of one embedding table over one window: a {@link CountMinSketch} of every lookup, the
 * {@link HeavyHitters} by estimate, and the exact number of lookups. Partial results of parallel
 * subtasks merge exactly (sketch counters add up) through {@link PartialIdStats}.
 *
 * <p>Sketch shape: 4 x 2048 counters, so an estimate is within 0.13% of the window's lookups
 * (e / 2048) of the true count with probability 98% (1 - e^-4), in 32 KiB per table and window.
 */
public final class TableFrequencies {
    public static final int DEPTH = 4;
    public static final int WIDTH = 2048;
    /** Fixed: every subtask and every restart must hash alike for partial sketches to merge. */
    public static final long SEED = 0x1D5EEDL;
    /** The count-min error bound per lookup in the window: e / width. */
    private static final double NOISE_PER_LOOKUP = Math.E / WIDTH;

    private final CountMinSketch sketch = new CountMinSketch(DEPTH, WIDTH, SEED);
    private final HeavyHitters top;
    private long total;

    public TableFrequencies(int k) {
        this.top = new HeavyHitters(k);
    }

    /** Adds one lookup of {@code row}. */
    public void add(long row) {
        add(row, 1);
    }

    /**
     * Adds {@code count} lookups of {@code row} at once (a block's lookups of one row, pre-aggregated
     * by {@link RowCounts}). The sketch and the total end exactly as after {@code count} single adds; the
     * row is offered to the top-k once, with its estimate after all of them.
     *
     * <p>Only rows whose estimate exceeds the sketch's error bound e * N / width can be told from hash
     * collisions (Cormode and Muthukrishnan admit heavy hitters by such a threshold, section 5.1); the
     * long tail below it would otherwise churn through the top-k heap on every lookup, since a fresh
     * row's estimate is mostly other rows' counts.
     */
    public void add(long row, int count) {
        total += count;
        long estimate = sketch.add(row, count);
        if (estimate > total * NOISE_PER_LOOKUP) {
            top.offer(row, estimate);
        }
    }

    /** Adds every row of {@code block} with its count, in the order the rows first appeared there. */
    void addAll(RowCounts block) {
        for (int i = 0, n = block.size(); i < n; i++) {
            add(block.row(i), block.count(i));
        }
    }

    /** Adds another subtask's partial result for the same table and window. */
    public void merge(PartialIdStats partial) {
        sketch.merge(partial.sketch);
        total += partial.total;
        for (long row : partial.candidates) {
            long estimate = sketch.estimate(row);
            if (estimate > total * NOISE_PER_LOOKUP) top.offer(row, estimate);
        }
        // Rows already in the heap have grown through the merge too: refresh their estimates.
        for (long row : top.items()) {
            top.offer(row, sketch.estimate(row)); // already admitted: only its estimate grows
        }
    }

    public long total() {
        return total;
    }

    public long estimate(long row) {
        return sketch.estimate(row);
    }

    /** The top rows (at most k, fewer if fewer stand out from the sketch's noise), most frequent first. */
    public long[] topRows() {
        return top.items();
    }

    public PartialIdStats toPartial(int table, long windowStart, long windowEnd) {
        return new PartialIdStats(table, windowStart, windowEnd, total, sketch.countsCopy(), top.items());
    }

    /**
     * As {@link #toPartial}, for a checkpoint: the candidates unsorted. A restore {@link #merge}s them, each admitted
     * on its own estimate (the heap keeps the k largest), so their order matters at most among equal estimates;
     * sorting k of them per table and open window at every checkpoint (five a second in the embedded job) was most
     * of the job's own checkpoint work in a JFR profile of the pipeline benchmark.
     */
    public PartialIdStats toCheckpoint(int table, long windowStart, long windowEnd) {
        return new PartialIdStats(table, windowStart, windowEnd, total, sketch.countsCopy(), top.itemsUnordered());
    }
}
