package dev.freshet.trainer.metrics;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Progressive validation (Blum, Kalai and Langford, 1999, "Beating the hold-out"): every example is
 * scored by the model before the model trains on it, so the scores are honest out-of-sample predictions
 * without a hold-out set. This keeps the last {@code window} (probability, label) pairs and reports
 * exact AUC and mean log loss over them.
 *
 * <p>Adding is O(1) per example (one log for its loss) and allocation-free; {@link #snapshot()} is a
 * linear pass with a radix sort (no comparison sort of the window), for status lines and model
 * versions. Thread-safe: the training thread adds, a status thread may read.
 */
public final class SlidingWindowMetrics {
    private final float[] scores;
    private final byte[] labels;
    private final float[] scratchPos;
    private final float[] scratchNeg;
    private final int[] scratchKeys;
    private final int[] scratchTmp;
    /** Each slot's log loss, computed once when the example is added. */
    private final double[] losses;
    private int next;
    private int size;
    private long total;

    public SlidingWindowMetrics(int window) {
        if (window < 1) throw new IllegalArgumentException("metric window " + window + " must be >= 1 example");
        this.scores = new float[window];
        this.labels = new byte[window];
        this.scratchPos = new float[window];
        this.scratchNeg = new float[window];
        this.scratchKeys = new int[window];
        this.scratchTmp = new int[window];
        this.losses = new double[window];
    }

    public int window() {
        return scores.length;
    }

    /** Records {@code probabilities[0, n)} for {@code labels[0, n)}, evicting the oldest beyond the window. */
    public synchronized void add(float[] probabilities, byte[] exampleLabels, int n) {
        if (n < 0 || n > probabilities.length || n > exampleLabels.length) {
            throw new IllegalArgumentException("n = " + n + " exceeds the arrays (" + probabilities.length + ", " + exampleLabels.length + ")");
        }
        int w = scores.length;
        int from = Math.max(0, n - w); // only the last w of a huge batch can stay
        for (int i = from; i < n; i++) {
            scores[next] = probabilities[i];
            labels[next] = exampleLabels[i];
            losses[next] = BinaryMetrics.logLoss(probabilities[i], exampleLabels[i]);
            next = next + 1 == w ? 0 : next + 1;
        }
        size = Math.min(w, size + (n - from));
        total += n;
    }

    /** AUC, log loss and click rate over the window (NaN where undefined), and counts. */
    public synchronized Snapshot snapshot() {
        int p = 0;
        int q = 0;
        double loss = 0;
        for (int i = 0; i < size; i++) {
            if (labels[i] != 0) scratchPos[p++] = scores[i];
            else scratchNeg[q++] = scores[i];
            loss += losses[i];
        }
        double auc = BinaryMetrics.aucOfSorted(scratchPos, p, scratchNeg, q, scratchKeys, scratchTmp);
        return new Snapshot(auc, size == 0 ? Double.NaN : loss / size, size == 0 ? Double.NaN : (double) p / size, size, total);
    }

    public synchronized void reset() {
        next = 0;
        size = 0;
        total = 0;
    }

    /**
     * @param auc     exact AUC over the window; NaN when it holds one class only
     * @param logLoss mean log loss over the window
     * @param ctr     fraction of positive labels in the window
     * @param size    examples in the window
     * @param seen    examples recorded since creation
     */
    public record Snapshot(double auc, double logLoss, double ctr, int size, long seen) {
        /** For model provenance and metric export: "auc", "logloss", "ctr", "window". NaN values are left out. */
        public Map<String, Double> asMap() {
            Map<String, Double> m = new LinkedHashMap<>();
            if (!Double.isNaN(auc)) m.put("auc", auc);
            if (!Double.isNaN(logLoss)) m.put("logloss", logLoss);
            if (!Double.isNaN(ctr)) m.put("ctr", ctr);
            m.put("window", (double) size);
            return m;
        }
    }
}
