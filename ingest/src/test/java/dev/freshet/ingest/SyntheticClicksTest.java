package dev.freshet.ingest;

import dev.freshet.features.FeatureLayout;
import dev.freshet.ingest.internal.TsvLineParser;
import dev.freshet.ingest.internal.TsvLineWriter;
import dev.freshet.schemas.ClickEvent;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SyntheticClicksTest {
    private static final FeatureLayout CRITEO = FeatureLayout.criteo(100_000);
    private static final EventTimeSource TIMES = EventTimeSource.sequence(Instant.parse("2024-01-01T00:00:00Z"), Duration.ofMillis(1));

    @Test
    void aContinuedStreamHasNewEventsAndIdsFromTheSameHiddenModel() {
        SyntheticConfig config = SyntheticConfig.defaults().withSeed(7);
        SyntheticClicks fresh = new SyntheticClicks(config, CRITEO, TIMES);
        SyntheticClicks continued = new SyntheticClicks(config, CRITEO, TIMES, 10_000);
        SyntheticClicks again = new SyntheticClicks(config, CRITEO, TIMES, 10_000);
        int sameIds = 0;
        for (int i = 0; i < 500; i++) {
            ClickEvent first = fresh.next();
            ClickEvent later = continued.next();
            assertEquals("synthetic-7-" + (10_000 + i), later.getEventId());
            assertEquals(later, again.next(), "a continuation is deterministic too");
            if (first.getCategorical().equals(later.getCategorical())) sameIds++;
            // the hidden model is the seed's: the fresh stream's model gives the continued event the same probability
            assertEquals(continued.lastProbability(), fresh.probability(later, fresh.phaseOf(10_000 + i)), 1e-12);
        }
        assertTrue(sameIds < 10, "the continuation draws its own events, not a replay: " + sameIds + " of 500 repeat");
        assertEquals(500, continued.count());
    }

    @Test
    void sameSeedSameEventsOtherSeedOtherEvents() {
        SyntheticClicks a = new SyntheticClicks(SyntheticConfig.defaults().withSeed(7), CRITEO, TIMES);
        SyntheticClicks b = new SyntheticClicks(SyntheticConfig.defaults().withSeed(7), CRITEO, TIMES);
        SyntheticClicks c = new SyntheticClicks(SyntheticConfig.defaults().withSeed(8), CRITEO, TIMES);
        int differ = 0;
        for (int i = 0; i < 500; i++) {
            ClickEvent x = a.next();
            assertEquals(x, b.next(), "event " + i);
            assertEquals(a.lastProbability(), b.lastProbability());
            ClickEvent y = c.next();
            if (!x.getCategorical().equals(y.getCategorical())) differ++;
        }
        assertTrue(differ > 400, "another seed draws other IDs: " + differ + " of 500 differ");
        assertEquals("synthetic-7-0", new SyntheticClicks(SyntheticConfig.defaults().withSeed(7), CRITEO, TIMES).next().getEventId());
    }

    @Test
    void idsAreZipfSkewedWithTheHottestIdAtRankOne() {
        SyntheticConfig config = SyntheticConfig.defaults().withIdsPerTable(10_000);
        SyntheticClicks gen = new SyntheticClicks(config, CRITEO, TIMES);
        int n = 40_000;
        Map<String, Integer> counts = new HashMap<>();
        for (int i = 0; i < n; i++) {
            counts.merge(gen.next().getCategorical().get(3), 1, Integer::sum);
        }
        double h = 0;
        for (int k = 1; k <= 10_000; k++) h += Math.pow(k, -config.zipfExponent());
        double p1 = 1 / h;
        double p10 = Math.pow(10, -config.zipfExponent()) / h;
        String top = gen.idOf(3, 1, 0);
        double f1 = counts.get(top) / (double) n;
        double f10 = counts.getOrDefault(gen.idOf(3, 10, 0), 0) / (double) n;
        assertEquals(p1, f1, 4 * Math.sqrt(p1 * (1 - p1) / n), "rank-1 frequency");
        assertEquals(p10, f10, 4 * Math.sqrt(p10 * (1 - p10) / n), "rank-10 frequency");
        assertEquals(top, counts.entrySet().stream().max(Map.Entry.comparingByValue()).orElseThrow().getKey());
        assertTrue(top.matches("[0-9a-f]{8}"), "Criteo-like hex id: " + top);
        assertNotEquals(gen.idOf(3, 1, 0), gen.idOf(4, 1, 0), "each table has its own IDs");
    }

    @Test
    void labelsAreDrawnFromTheTrueProbabilitiesAndBestAucIsTheirAuc() {
        SyntheticClicks gen = new SyntheticClicks(SyntheticConfig.defaults().withSeed(3), CRITEO, TIMES);
        int n = 30_000;
        double[] p = new double[n];
        int[] y = new int[n];
        double sumP = 0;
        double[] bucketP = new double[5];
        double[] bucketY = new double[5];
        int[] bucketN = new int[5];
        for (int i = 0; i < n; i++) {
            ClickEvent e = gen.next();
            p[i] = gen.lastProbability();
            y[i] = e.getLabel();
            assertEquals(p[i], gen.probability(e, 0), 1e-15, "probability() recomputes the truth from the event alone");
            sumP += p[i];
            int b = (int) Math.min(4, p[i] * 5);
            bucketP[b] += p[i];
            bucketY[b] += y[i];
            bucketN[b]++;
        }
        double meanP = sumP / n;
        assertEquals(meanP, gen.clickRate(), 4 * Math.sqrt(meanP * (1 - meanP) / n));
        for (int b = 0; b < 5; b++) {
            if (bucketN[b] < 500) continue;
            double mp = bucketP[b] / bucketN[b];
            assertEquals(mp, bucketY[b] / bucketN[b], 4 * Math.sqrt(mp * (1 - mp) / bucketN[b]) + 0.005, "calibration in bucket " + b);
        }
        double exact = exactAuc(p, y);
        assertEquals(exact, gen.bestAuc(), 2e-4, "binned AUC agrees with the exact one");
        assertTrue(exact > 0.70 && exact < 0.95, "defaults give a learnable but noisy task: best AUC " + exact);

        // A model that knows only the dense part of the truth does worse than the truth.
        double[] denseOnly = new double[n];
        SyntheticClicks again = new SyntheticClicks(SyntheticConfig.defaults().withSeed(3), CRITEO, TIMES);
        for (int i = 0; i < n; i++) {
            ClickEvent e = again.next();
            e.setCategorical(Arrays.asList(new String[26]));
            denseOnly[i] = again.probability(e, 0);
        }
        assertTrue(exactAuc(denseOnly, y) < exact - 0.05, "dense-only AUC " + exactAuc(denseOnly, y) + " vs best " + exact);
    }

    @Test
    void shiftBringsNewHotIdsAndAnotherTruth() {
        int shiftAt = 20_000;
        SyntheticClicks gen = new SyntheticClicks(SyntheticConfig.defaults().withSeed(11).withIdsPerTable(5_000).withShiftAfter(shiftAt), CRITEO, TIMES);
        Map<String, Integer> before = new HashMap<>();
        Map<String, Integer> after = new HashMap<>();
        int n = 2 * shiftAt;
        double[] stale = new double[shiftAt];
        int[] labels = new int[shiftAt];
        for (int i = 0; i < n; i++) {
            ClickEvent e = gen.next();
            (i < shiftAt ? before : after).merge(e.getCategorical().get(0), 1, Integer::sum);
            if (i >= shiftAt) {
                assertEquals(gen.lastProbability(), gen.probability(e, 1), 1e-15);
                stale[i - shiftAt] = gen.probability(e, 0);
                labels[i - shiftAt] = e.getLabel();
            }
        }
        String hotBefore = gen.idOf(0, 1, 0);
        String hotAfter = gen.idOf(0, 1, 1);
        assertNotEquals(hotBefore, hotAfter);
        assertTrue(before.getOrDefault(hotBefore, 0) > shiftAt / 20, "rank 1 is hot before the shift");
        assertEquals(0, after.getOrDefault(hotBefore, 0) > shiftAt / 100 ? 1 : 0, "the old hot ID cools down after the shift");
        assertTrue(after.getOrDefault(hotAfter, 0) > shiftAt / 20, "a new hot ID after the shift");
        double best = gen.bestAuc(1);
        double staleAuc = exactAuc(stale, labels);
        assertTrue(staleAuc < best - 0.1, "the old truth is stale after the shift: " + staleAuc + " vs " + best);
        assertTrue(gen.bestAuc(0) > 0.7 && best > 0.7, gen.bestAuc(0) + " " + best);
    }

    @Test
    void eventsRoundTripThroughTheTsvFormatOfTheirLayout() {
        FeatureLayout layout = FeatureLayout.parse("id:event_id,t:event_time,label:label,n:count,x:numeric,u:categorical:100,i:categorical:100,pad:skip", 1);
        SyntheticClicks gen = new SyntheticClicks(SyntheticConfig.defaults(), layout, TIMES);
        TsvLineWriter writer = new TsvLineWriter(layout);
        TsvLineParser parser = new TsvLineParser(layout, "mem");
        for (int i = 0; i < 2000; i++) {
            ClickEvent e = gen.next();
            String line = writer.write(e);
            ParsedLine back = parser.parse(line, i + 1, i, ordinal -> -1);
            assertEquals(e, ((ParsedLine.Accepted) back).event(), line);
        }
    }

    /** Mann-Whitney AUC with ties counted half. */
    static double exactAuc(double[] score, int[] label) {
        Integer[] order = new Integer[score.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Double.compare(score[a], score[b]));
        double rankSumPos = 0;
        long pos = 0;
        int i = 0;
        while (i < order.length) {
            int j = i;
            while (j + 1 < order.length && score[order[j + 1]] == score[order[i]]) j++;
            double midRank = (i + j) / 2.0 + 1;
            for (int k = i; k <= j; k++) {
                if (label[order[k]] == 1) {
                    rankSumPos += midRank;
                    pos++;
                }
            }
            i = j + 1;
        }
        long neg = score.length - pos;
        return (rankSumPos - pos * (pos + 1) / 2.0) / ((double) pos * neg);
    }
}
