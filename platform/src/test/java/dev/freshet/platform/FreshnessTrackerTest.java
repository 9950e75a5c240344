package dev.freshet.platform;

import dev.freshet.platform.internal.LatencyHistogram;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

class FreshnessTrackerTest {

    @Test
    void anExampleIsServedByTheFirstVersionPastItsOffsetWhicheverReportComesFirst() {
        FreshnessTracker t = new FreshnessTracker("features");
        t.steadyStateFrom(0);
        // Partition 0: offsets 10 and 11 seen before any version.
        t.featuresRecord(0, 10, new long[]{1_000, 1_100});
        t.featuresRecord(0, 11, new long[]{1_200});
        // A version containing offset 10 only (next offset 11), served at 1_500; other topics are ignored.
        t.versionServed(Map.of("features-0", 11L, "clicks-0", 999L), 1_500);
        assertEquals(2, t.matched());
        assertEquals(1, t.unmatched());
        // A version that contains offset 11, and partition 1 up to offset 5.
        t.versionServed(Map.of("features-0", 12L, "features-1", 5L), 2_000);
        assertEquals(3, t.matched());
        // The tap reports partition 1's offset 3 after the version that contains it was served at 2_000.
        t.featuresRecord(1, 3, new long[]{1_900});
        // ... and offset 5, which no version contains yet.
        t.featuresRecord(1, 5, new long[]{1_950});
        assertEquals(4, t.matched());
        assertEquals(1, t.unmatched());

        FreshnessTracker.Summary s = t.summary();
        assertEquals(4, s.count());
        // Latencies: 500, 400, 800, 100 ms -> nearest-rank p50 = 400 ms, p99 = 800 ms.
        assertEquals(0.400, s.p50Seconds(), 1e-9);
        assertEquals(0.800, s.p99Seconds(), 1e-9);
        assertEquals(0.800, s.maxSeconds(), 1e-9);
    }

    @Test
    void examplesProducedBeforeTheSteadyStateAreMatchedButNotCounted() {
        FreshnessTracker t = new FreshnessTracker("p.features");
        t.featuresRecord(0, 0, new long[]{100, 5_000});
        t.steadyStateFrom(1_000);
        t.versionServed(Map.of("p.features-0", 1L), 6_000);
        assertEquals(2, t.matched());
        assertEquals(1, t.summary().count());
        assertEquals(1.0, t.summary().p50Seconds(), 1e-9);
        assertEquals(2, t.drainRecent().count(), "the live view counts start-up examples too");
        assertEquals(0, t.drainRecent().count(), "drainRecent resets");
    }

    @Test
    void histogramPercentilesAreExactNearestRank() {
        LatencyHistogram h = new LatencyHistogram();
        assertEquals(Double.NaN, h.percentileMillis(0.5));
        Random r = new Random(7);
        long[] values = new long[10_001];
        for (int i = 0; i < values.length; i++) {
            values[i] = r.nextInt(3_000);
            h.add(values[i]);
        }
        java.util.Arrays.sort(values);
        assertEquals(values[5_000], h.percentileMillis(0.5));
        assertEquals(values[(int) Math.ceil(0.99 * values.length) - 1], h.percentileMillis(0.99));
        h.add(LatencyHistogram.MAX_MILLIS + 50_000);
        assertEquals(LatencyHistogram.MAX_MILLIS + 50_000, h.percentileMillis(1.0));
        h.add(-5);
        assertEquals(0, h.percentileMillis(0.0));
    }
}
