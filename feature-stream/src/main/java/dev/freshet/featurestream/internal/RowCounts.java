package dev.freshet.featurestream.internal;

/**
 * The lookups of one table within one block of examples, counted per distinct row: a small
 * open-addressing map (linear probing) from row to count that remembers the order in which rows
 * first appeared. {@link IdStatsPreAggregator} sketches a block's distinct rows once each, with their
 * counts, instead of every lookup: on Criteo's columns 1,024 consecutive lookups of a table hold
 * about 300 distinct rows (a Zipf head repeats within a block), and a heavy row is offered to the
 * top-k heap once per block rather than on every lookup.
 *
 * <p>Fixed memory (three int arrays sized by the block), no allocation after construction, and a
 * {@link #clear} that costs the number of distinct rows, not the capacity.
 */
final class RowCounts {
    private final int mask;
    private final int shift;
    private final int[] rows;
    /** Count per slot; 0 marks a free slot, so any int is a valid row. */
    private final int[] counts;
    /** Occupied slots in first-seen order. */
    private final int[] order;
    private int size;

    /** A map for at most {@code maxDistinct} distinct rows between clears (a block of that many lookups). */
    RowCounts(int maxDistinct) {
        if (maxDistinct < 1 || maxDistinct > (1 << 28)) {
            throw new IllegalArgumentException("a block must hold 1 to " + (1 << 28) + " distinct rows; got " + maxDistinct);
        }
        // At most half full, so that linear probing stays short.
        int capacity = Integer.highestOneBit(Math.max(2, 2 * maxDistinct - 1)) << 1;
        this.mask = capacity - 1;
        this.shift = 32 - Integer.numberOfTrailingZeros(capacity);
        this.rows = new int[capacity];
        this.counts = new int[capacity];
        this.order = new int[maxDistinct];
    }

    /** Counts one lookup of {@code row}. */
    void add(int row) {
        // Fibonacci hashing: rows are hash outputs already, but small tables map them to small ranges.
        for (int i = (row * 0x9E3779B9) >>> shift; ; i = (i + 1) & mask) {
            int c = counts[i];
            if (c == 0) {
                if (size == order.length) {
                    throw new IllegalStateException("row " + row + " would be distinct row " + (size + 1) + " of a block sized for "
                            + order.length + "; a bug in the caller, which must clear() after each block");
                }
                rows[i] = row;
                counts[i] = 1;
                order[size++] = i;
                return;
            }
            if (rows[i] == row) {
                counts[i] = c + 1;
                return;
            }
        }
    }

    /** Distinct rows since the last clear. */
    int size() {
        return size;
    }

    /** The {@code i}-th distinct row, in first-seen order. */
    int row(int i) {
        return rows[order[i]];
    }

    /** How often {@link #row(int) row(i)} was added. */
    int count(int i) {
        return counts[order[i]];
    }

    void clear() {
        for (int i = 0; i < size; i++) {
            counts[order[i]] = 0;
        }
        size = 0;
    }
}
