package dev.freshet.featurestream.internal;

import java.util.Arrays;

/**
 * Count-min sketch (Cormode and Muthukrishnan, "An improved data stream summary: the count-min sketch
 * and its applications", Journal of Algorithms 55(1), 2005): {@code depth} rows of {@code width}
 * counters; an item increments one counter per row and its estimate is the smallest of them. With
 * N items added, an estimate exceeds the true count by more than (e / width) * N with probability at
 * most exp(-depth), and never falls below it. Memory is fixed: depth * width int counters (4 bytes, not 8:
 * the sketch is probed at random for every lookup of every table, so its cache footprint is what it
 * costs); a counter saturates at Integer.MAX_VALUE rather than wrap.
 *
 * <p>Row i hashes with multiply-shift (Dietzfelbinger et al. 1997) using odd multiplier a_i, applied to
 * a SplitMix64 mix of the item so that small consecutive ids spread too. Two sketches with the same
 * seed, depth and width can be merged by adding counters ({@link #merge}).
 */
public final class CountMinSketch {
    private final int depth;
    private final int width;
    private final int shift;
    private final long[] multipliers;
    private final int[] counts;

    public CountMinSketch(int depth, int width, long seed) {
        if (depth < 1 || width < 2 || Integer.bitCount(width) != 1) {
            throw new IllegalArgumentException("count-min sketch needs depth >= 1 and a power-of-two width >= 2; got depth "
                    + depth + ", width " + width);
        }
        this.depth = depth;
        this.width = width;
        this.shift = 64 - Integer.numberOfTrailingZeros(width);
        this.multipliers = new long[depth];
        long s = seed;
        for (int i = 0; i < depth; i++) {
            s += 0x9E3779B97F4A7C15L;
            multipliers[i] = mix(s) | 1L;
        }
        this.counts = new int[depth * width];
    }

    public int depth() {
        return depth;
    }

    public int width() {
        return width;
    }

    /** A copy of the counters, row-major [depth, width], for partial results and checkpoints. */
    public long[] countsCopy() {
        long[] out = new long[counts.length];
        for (int i = 0; i < counts.length; i++) out[i] = counts[i];
        return out;
    }

    /** Adds one occurrence of {@code item} and returns its new estimate. */
    public long add(long item) {
        return add(item, 1);
    }

    /**
     * Adds {@code count} occurrences of {@code item} at once and returns its new estimate. Counters only
     * add up, so the sketch ends exactly as after {@code count} single adds, in any order.
     */
    public long add(long item, int count) {
        if (count < 1) {
            throw new IllegalArgumentException("count-min sketch counts only grow; got count " + count + " for item " + item);
        }
        long x = mix(item);
        int min = Integer.MAX_VALUE;
        int[] c = counts;
        for (int i = 0, base = 0; i < depth; i++, base += width) {
            int j = base + (int) ((multipliers[i] * x) >>> shift);
            int v = c[j] + count;
            if (v < 0) v = Integer.MAX_VALUE; // saturate instead of wrapping (both terms are non-negative)
            c[j] = v;
            if (v < min) min = v;
        }
        return min;
    }

    /** An upper bound on how often {@code item} was added (exact when there were no collisions). */
    public long estimate(long item) {
        long x = mix(item);
        int min = Integer.MAX_VALUE;
        for (int i = 0, base = 0; i < depth; i++, base += width) {
            int c = counts[base + (int) ((multipliers[i] * x) >>> shift)];
            if (c < min) min = c;
        }
        return min;
    }

    /** Adds the counters of a sketch with the same shape and seed (a partial one from another subtask). */
    public void merge(long[] otherCounts) {
        if (otherCounts.length != counts.length) {
            throw new IllegalArgumentException("cannot merge a count-min sketch of " + otherCounts.length + " counters into one of "
                    + counts.length + " (" + depth + " x " + width + "): shapes differ");
        }
        for (int i = 0; i < counts.length; i++) {
            counts[i] = (int) Math.min(Integer.MAX_VALUE, counts[i] + otherCounts[i]);
        }
    }

    public void clear() {
        Arrays.fill(counts, 0);
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}
