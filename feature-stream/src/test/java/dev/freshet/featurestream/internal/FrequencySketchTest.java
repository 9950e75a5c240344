package dev.freshet.featurestream.internal;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Count-min sketch and heavy hitters against exact counts on a seeded Zipf-like stream. */
class FrequencySketchTest {

    /** 200,000 draws from a Zipf(1.1) over 100,000 ids: heavy head, long tail, like Criteo's categorical columns. */
    static long[] zipfStream(long seed) {
        int n = 100_000;
        double[] cdf = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += 1.0 / Math.pow(i + 1, 1.1);
            cdf[i] = sum;
        }
        Random random = new Random(seed);
        long[] out = new long[200_000];
        for (int i = 0; i < out.length; i++) {
            double u = random.nextDouble() * sum;
            int lo = 0, hi = n - 1;
            while (lo < hi) {
                int mid = (lo + hi) >>> 1;
                if (cdf[mid] < u) lo = mid + 1; else hi = mid;
            }
            out[i] = lo * 7919L + 13; // spread ids out so that they are not simply 0..n
        }
        return out;
    }

    @Test
    void estimatesNeverUndercountAndStayWithinTheBoundForAlmostAllItems() {
        long[] stream = zipfStream(42);
        CountMinSketch sketch = new CountMinSketch(TableFrequencies.DEPTH, TableFrequencies.WIDTH, 7);
        Map<Long, Long> exact = new HashMap<>();
        for (long x : stream) {
            sketch.add(x);
            exact.merge(x, 1L, Long::sum);
        }
        double bound = Math.E / TableFrequencies.WIDTH * stream.length;
        int outside = 0;
        for (Map.Entry<Long, Long> e : exact.entrySet()) {
            long est = sketch.estimate(e.getKey());
            assertTrue(est >= e.getValue(), "count-min never undercounts: " + e);
            if (est - e.getValue() > bound) outside++;
        }
        // The guarantee is per item with probability 1 - e^-4 (98%); allow the 2% plus slack.
        assertTrue(outside <= 0.02 * exact.size(), outside + " of " + exact.size() + " items beyond e*N/width = " + bound);
    }

    @Test
    void topKFindsTheTrueHeavyHittersInOrder() {
        long[] stream = zipfStream(43);
        TableFrequencies freq = new TableFrequencies(10);
        Map<Long, Long> exact = new HashMap<>();
        for (long x : stream) {
            freq.add(x);
            exact.merge(x, 1L, Long::sum);
        }
        long[] trueTop = exact.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue(), a.getValue()))
                .limit(10).mapToLong(Map.Entry::getKey).toArray();
        assertArrayEquals(trueTop, freq.topRows());
        assertEquals(stream.length, freq.total());
        // The head of a Zipf stream is far above the sketch's error: its estimates are exact or nearly.
        long top = trueTop[0];
        assertTrue(freq.estimate(top) - exact.get(top) <= Math.E / TableFrequencies.WIDTH * stream.length);
    }

    @Test
    void mergedPartialsEqualOneSketchOverTheWholeStream() {
        long[] stream = zipfStream(44);
        TableFrequencies whole = new TableFrequencies(20);
        TableFrequencies a = new TableFrequencies(20);
        TableFrequencies b = new TableFrequencies(20);
        for (int i = 0; i < stream.length; i++) {
            whole.add(stream[i]);
            (i % 3 == 0 ? a : b).add(stream[i]);
        }
        TableFrequencies merged = new TableFrequencies(20);
        merged.merge(a.toPartial(0, 0, 10));
        merged.merge(b.toPartial(0, 0, 10));
        assertEquals(whole.total(), merged.total());
        assertArrayEquals(whole.topRows(), merged.topRows());
        for (long row : whole.topRows()) {
            assertEquals(whole.estimate(row), merged.estimate(row), "row " + row);
        }
    }

    @Test
    void heavyHittersKeepOnlyKAndEvictTheSmallest() {
        HeavyHitters hh = new HeavyHitters(3);
        hh.offer(1, 5);
        hh.offer(2, 1);
        hh.offer(3, 7);
        hh.offer(4, 2);   // evicts 2 (estimate 1)
        hh.offer(5, 1);   // below the minimum (2): ignored
        hh.offer(4, 9);   // grows in place
        assertArrayEquals(new long[]{4, 3, 1}, hh.items());
        for (int i = 100; i < 5_000; i++) hh.offer(i, i); // many evictions exercise the index's deletions
        assertArrayEquals(new long[]{4999, 4998, 4997}, hh.items());
    }

    @Test
    void addingACountAtOnceSaturatesAndRefusesCountsThatDoNotGrow() {
        CountMinSketch s = new CountMinSketch(2, 8, 1);
        assertEquals(5, s.add(42, 5));
        assertEquals(6, s.add(42));
        assertEquals(Integer.MAX_VALUE, s.add(42, Integer.MAX_VALUE - 1), "saturates instead of wrapping");
        assertEquals(Integer.MAX_VALUE, s.estimate(42));
        var e = assertThrows(IllegalArgumentException.class, () -> s.add(7, 0));
        assertTrue(e.getMessage().contains("got count 0 for item 7"), e.getMessage());
    }

    @Test
    void badShapesAreRefusedWithTheNumbers() {
        var e = assertThrows(IllegalArgumentException.class, () -> new CountMinSketch(4, 1000, 1));
        assertTrue(e.getMessage().contains("width >= 2; got depth 4, width 1000"), e.getMessage());
        CountMinSketch s = new CountMinSketch(2, 8, 1);
        var m = assertThrows(IllegalArgumentException.class, () -> s.merge(new long[3]));
        assertTrue(m.getMessage().contains("3 counters into one of 16 (2 x 8)"), m.getMessage());
    }
}
