package dev.freshet.platform.internal;

/**
 * Counts of latencies at 1 ms resolution up to {@link #MAX_MILLIS}, with one overflow bucket, so that
 * percentiles are exact to the millisecond however many values are added (no sampling). Not
 * thread-safe; the owner synchronises.
 */
public final class LatencyHistogram {
    public static final int MAX_MILLIS = 120_000;

    private final long[] counts = new long[MAX_MILLIS + 2];
    private long total;
    private long max;

    /** Adds one latency; negative values (clock skew between hosts) count as 0. */
    public void add(long millis) {
        long m = Math.max(0, millis);
        counts[(int) Math.min(m, MAX_MILLIS + 1)]++;
        total++;
        max = Math.max(max, m);
    }

    public void addAll(LatencyHistogram other) {
        for (int i = 0; i < counts.length; i++) {
            counts[i] += other.counts[i];
        }
        total += other.total;
        max = Math.max(max, other.max);
    }

    public void clear() {
        java.util.Arrays.fill(counts, 0);
        total = 0;
        max = 0;
    }

    public long count() {
        return total;
    }

    public long maxMillis() {
        return max;
    }

    /**
     * The smallest latency L such that at least {@code q} of all values are at most L (nearest rank),
     * in ms; NaN when empty. Values past the last bucket report {@link #maxMillis()}.
     */
    public double percentileMillis(double q) {
        if (q < 0 || q > 1) {
            throw new IllegalArgumentException("quantile " + q + " outside [0, 1]");
        }
        if (total == 0) {
            return Double.NaN;
        }
        long rank = Math.max(1, (long) Math.ceil(q * total));
        long seen = 0;
        for (int i = 0; i < counts.length; i++) {
            seen += counts[i];
            if (seen >= rank) {
                return i > MAX_MILLIS ? max : i;
            }
        }
        return max;
    }
}
