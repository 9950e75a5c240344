package dev.freshet.trainer.metrics;

import java.util.Arrays;
import java.util.Objects;

/**
 * Quality of predicted click probabilities against 0/1 labels: exact ROC AUC and mean log loss. Shared by
 * the online trainer's progressive validation, the retrain's comparison and the publisher's quality gate,
 * so that every component reports the same numbers.
 *
 * <p>AUC is the Mann-Whitney rank statistic (Hanley and McNeil, 1982, "The meaning and use of the area
 * under a receiver operating characteristic curve"): the probability that a random positive scores above
 * a random negative, ties counting one half. It is computed by sorting positives' and negatives' scores
 * separately and merging them once: O(n log n), exact, no binning.
 */
public final class BinaryMetrics {
    /** Probabilities are clipped to [EPS, 1 - EPS] in log loss, so one confident mistake costs ~16 nats, not infinity. */
    public static final double LOG_LOSS_EPS = 1e-7;

    private BinaryMetrics() {
    }

    /**
     * Exact AUC of {@code scores[0, n)} against {@code labels[0, n)} (0 or 1); NaN when the examples hold
     * only one class (AUC is undefined there).
     */
    public static double auc(float[] scores, byte[] labels, int n) {
        checkArgs(scores, labels, n);
        int positives = 0;
        for (int i = 0; i < n; i++) positives += labels[i] != 0 ? 1 : 0;
        float[] pos = new float[positives];
        float[] neg = new float[n - positives];
        return auc(scores, labels, n, pos, neg);
    }

    /**
     * As {@link #auc(float[], byte[], int)}, reusing scratch arrays that hold at least the positives and
     * the negatives respectively (allocation-free in a loop).
     */
    static double auc(float[] scores, byte[] labels, int n, float[] scratchPos, float[] scratchNeg) {
        int p = 0;
        int q = 0;
        for (int i = 0; i < n; i++) {
            if (labels[i] != 0) scratchPos[p++] = scores[i];
            else scratchNeg[q++] = scores[i];
        }
        return aucOfSorted(scratchPos, p, scratchNeg, q);
    }

    /** Sorts {@code pos[0, p)} and {@code neg[0, q)} in place and returns their AUC. */
    static double aucOfSorted(float[] pos, int p, float[] neg, int q) {
        if (p == 0 || q == 0) return Double.NaN;
        Arrays.sort(pos, 0, p);
        Arrays.sort(neg, 0, q);
        return aucOfAscending(pos, p, neg, q);
    }

    /**
     * As {@link #aucOfSorted}, sorting with a radix sort over the scores' bits in {@code keys} and {@code tmp}
     * (each at least max(p, q) long): linear time, several times faster than a comparison sort on a window
     * of 100,000 scores, which a trainer snapshots for every model version. Same result.
     */
    static double aucOfSorted(float[] pos, int p, float[] neg, int q, int[] keys, int[] tmp) {
        if (p == 0 || q == 0) return Double.NaN;
        radixSort(pos, p, keys, tmp);
        radixSort(neg, q, keys, tmp);
        return aucOfAscending(pos, p, neg, q);
    }

    /**
     * Sorts {@code a[0, n)} ascending (NaN-free): each float's bits are mapped to an unsigned key in the same
     * order (negative values have all bits flipped, others the sign bit), then four stable 8-bit passes.
     */
    static void radixSort(float[] a, int n, int[] keys, int[] tmp) {
        for (int i = 0; i < n; i++) {
            int b = Float.floatToRawIntBits(a[i]);
            keys[i] = b ^ ((b >> 31) | 0x80000000);
        }
        int[] from = keys, to = tmp;
        int[] count = new int[257];
        for (int shift = 0; shift < 32; shift += 8) {
            Arrays.fill(count, 0);
            for (int i = 0; i < n; i++) count[((from[i] >>> shift) & 0xFF) + 1]++;
            for (int d = 0; d < 256; d++) count[d + 1] += count[d];
            for (int i = 0; i < n; i++) to[count[(from[i] >>> shift) & 0xFF]++] = from[i];
            int[] swap = from;
            from = to;
            to = swap;
        }
        // four passes: the sorted keys are back in `keys`
        for (int i = 0; i < n; i++) {
            int k = from[i];
            a[i] = Float.intBitsToFloat(k < 0 ? k ^ 0x80000000 : ~k);
        }
    }

    private static double aucOfAscending(float[] pos, int p, float[] neg, int q) {
        // For each positive (ascending) count the negatives strictly below it and those equal to it.
        double wins = 0;
        int below = 0;
        for (int i = 0; i < p; i++) {
            float s = pos[i];
            while (below < q && neg[below] < s) below++;
            int equal = below;
            while (equal < q && neg[equal] == s) equal++;
            wins += below + 0.5 * (equal - below);
        }
        return wins / ((double) p * q);
    }

    /** Mean binary cross-entropy (natural log) of {@code probabilities[0, n)}; NaN for n == 0. */
    public static double logLoss(float[] probabilities, byte[] labels, int n) {
        checkArgs(probabilities, labels, n);
        if (n == 0) return Double.NaN;
        double sum = 0;
        for (int i = 0; i < n; i++) sum += logLoss(probabilities[i], labels[i]);
        return sum / n;
    }

    /** The log loss of one example. */
    public static double logLoss(float probability, byte label) {
        double p = Math.min(1 - LOG_LOSS_EPS, Math.max(LOG_LOSS_EPS, probability));
        return label != 0 ? -Math.log(p) : -Math.log(1 - p);
    }

    private static void checkArgs(float[] scores, byte[] labels, int n) {
        Objects.requireNonNull(scores, "scores");
        Objects.requireNonNull(labels, "labels");
        if (n < 0 || n > scores.length || n > labels.length) {
            throw new IllegalArgumentException("n = " + n + " exceeds the arrays (" + scores.length + " scores, "
                    + labels.length + " labels)");
        }
    }
}
