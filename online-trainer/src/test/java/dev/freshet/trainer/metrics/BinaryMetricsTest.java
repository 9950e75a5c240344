package dev.freshet.trainer.metrics;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BinaryMetricsTest {

    /** Counts every (positive, negative) pair: the definition that the sort-merge must reproduce. */
    private static double bruteForceAuc(float[] s, byte[] y, int n) {
        double wins = 0;
        long pairs = 0;
        for (int i = 0; i < n; i++) {
            if (y[i] == 0) continue;
            for (int j = 0; j < n; j++) {
                if (y[j] != 0) continue;
                pairs++;
                if (s[i] > s[j]) wins += 1;
                else if (s[i] == s[j]) wins += 0.5;
            }
        }
        return wins / pairs;
    }

    @Test
    void aucEqualsPairCountIncludingTies() {
        Random r = new Random(7);
        for (int trial = 0; trial < 20; trial++) {
            int n = 50 + r.nextInt(500);
            float[] s = new float[n];
            byte[] y = new byte[n];
            for (int i = 0; i < n; i++) {
                // Coarse scores force many ties; labels correlate with scores so AUC is far from 0.5.
                s[i] = r.nextInt(20) / 20f;
                y[i] = (byte) (r.nextFloat() < 0.2 + 0.6 * s[i] ? 1 : 0);
            }
            assertEquals(bruteForceAuc(s, y, n), BinaryMetrics.auc(s, y, n), 1e-12);
        }
    }

    @Test
    void aucOfKnownOrderings() {
        byte[] y = {0, 0, 1, 1};
        assertEquals(1.0, BinaryMetrics.auc(new float[]{0.1f, 0.2f, 0.8f, 0.9f}, y, 4), 0);
        assertEquals(0.0, BinaryMetrics.auc(new float[]{0.8f, 0.9f, 0.1f, 0.2f}, y, 4), 0);
        assertEquals(0.5, BinaryMetrics.auc(new float[]{0.5f, 0.5f, 0.5f, 0.5f}, y, 4), 0);
        // one of the four pairs misordered
        assertEquals(0.75, BinaryMetrics.auc(new float[]{0.1f, 0.85f, 0.8f, 0.9f}, y, 4), 0);
        assertTrue(Double.isNaN(BinaryMetrics.auc(new float[]{0.1f, 0.2f}, new byte[]{1, 1}, 2)));
    }

    @Test
    void logLossMatchesDefinitionAndClipsCertainMistakes() {
        float[] p = {0.9f, 0.2f};
        byte[] y = {1, 0};
        double expected = (-Math.log(0.9f) - Math.log(1 - (double) 0.2f)) / 2;
        assertEquals(expected, BinaryMetrics.logLoss(p, y, 2), 1e-12);
        assertEquals(-Math.log(BinaryMetrics.LOG_LOSS_EPS), BinaryMetrics.logLoss(0f, (byte) 1), 1e-9);
    }

    @Test
    void slidingWindowKeepsOnlyTheLastExamples() {
        SlidingWindowMetrics w = new SlidingWindowMetrics(4);
        // The first two are perfectly wrong; once evicted, the window is perfectly right.
        w.add(new float[]{0.9f, 0.1f}, new byte[]{0, 1}, 2);
        assertEquals(0.0, w.snapshot().auc(), 0);
        w.add(new float[]{0.2f, 0.7f, 0.3f, 0.8f}, new byte[]{0, 1, 0, 1}, 4);
        SlidingWindowMetrics.Snapshot s = w.snapshot();
        assertEquals(1.0, s.auc(), 0);
        assertEquals(4, s.size());
        assertEquals(6, s.seen());
        assertEquals(0.5, s.ctr(), 0);
        float[] last = {0.2f, 0.7f, 0.3f, 0.8f};
        assertEquals(BinaryMetrics.logLoss(last, new byte[]{0, 1, 0, 1}, 4), s.logLoss(), 1e-12);
        // A batch larger than the window keeps its tail.
        w.add(new float[]{0.9f, 0.9f, 0.1f, 0.1f, 0.6f, 0.4f}, new byte[]{0, 0, 0, 0, 1, 0}, 6);
        assertEquals(BinaryMetrics.auc(new float[]{0.1f, 0.1f, 0.6f, 0.4f}, new byte[]{0, 0, 1, 0}, 4), w.snapshot().auc(), 0);
    }
}
