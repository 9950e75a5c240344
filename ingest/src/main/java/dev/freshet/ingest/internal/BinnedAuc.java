package dev.freshet.ingest.internal;

/**
 * Streaming ROC AUC of scores in [0, 1]: positives and negatives counted in 65,536 equal-width score
 * bins, pairs within one bin counted as ties (half). With probabilities that rarely share a bin this
 * is within about 1e-4 of the exact AUC, in constant memory for any number of events.
 */
public final class BinnedAuc {
    private static final int BINS = 1 << 16;
    private final long[] positives = new long[BINS];
    private final long[] negatives = new long[BINS];
    private long pos;
    private long neg;

    public void add(double score, boolean positive) {
        int bin = (int) Math.min(BINS - 1, Math.max(0, (long) (score * BINS)));
        if (positive) {
            positives[bin]++;
            pos++;
        } else {
            negatives[bin]++;
            neg++;
        }
    }

    public long count() {
        return pos + neg;
    }

    /** The AUC, or NaN while there are no positives or no negatives. */
    public double value() {
        if (pos == 0 || neg == 0) {
            return Double.NaN;
        }
        double wins = 0;
        long negativesBelow = 0;
        for (int b = 0; b < BINS; b++) {
            wins += positives[b] * (negativesBelow + 0.5 * negatives[b]);
            negativesBelow += negatives[b];
        }
        return wins / ((double) pos * neg);
    }
}
