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
    void radixSortAgreesWithArraysSort() {
        java.util.SplittableRandom r = new java.util.SplittableRandom(System.nanoTime());
        for (int round = 0; round < 20; round++) {
            int n = 1 + r.nextInt(5000);
            float[] a = new float[n];
            for (int i = 0; i < n; i++) {
                // probabilities, ties, exact 0 and 1, and (beyond what a trainer produces) negative and -0.0 values
                int kind = r.nextInt(10);
                a[i] = kind == 0 ? 0f : kind == 1 ? 1f : kind == 2 ? -0.0f : kind == 3 ? (float) -r.nextDouble() * 3
                        : kind == 4 ? 0.5f : (float) r.nextDouble();
            }
            float[] expected = a.clone();
            java.util.Arrays.sort(expected);
            BinaryMetrics.radixSort(a, n, new int[n], new int[n]);
            for (int i = 0; i < n; i++) {
                assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(a[i]), "element " + i + " of " + n);
            }
        }
    }

    @Test
    void slidingWindowAucEqualsPairCount() {
        java.util.SplittableRandom r = new java.util.SplittableRandom(System.nanoTime());
        SlidingWindowMetrics w = new SlidingWindowMetrics(3000);
        float[] s = new float[10_000];
        byte[] y = new byte[10_000];
        for (int i = 0; i < s.length; i++) {
            s[i] = r.nextInt(8) == 0 ? 0.25f : (float) r.nextDouble();
            y[i] = (byte) (r.nextDouble() < 0.3 + 0.4 * s[i] ? 1 : 0);
        }
        w.add(s, y, s.length);
        float[] last = java.util.Arrays.copyOfRange(s, 7000, 10_000);
        byte[] lastY = java.util.Arrays.copyOfRange(y, 7000, 10_000);
        SlidingWindowMetrics.Snapshot snap = w.snapshot();
        assertEquals(bruteForceAuc(last, lastY, 3000), snap.auc(), 1e-12);
        assertEquals(BinaryMetrics.logLoss(last, lastY, 3000), snap.logLoss(), 1e-6);
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
