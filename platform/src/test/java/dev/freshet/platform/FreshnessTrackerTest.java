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
        t.featuresRecord(0, 10, new long[]{1_000, 1_100}, 0);
        t.featuresRecord(0, 11, new long[]{1_200}, 0);
        // A version containing offset 10 only (next offset 11), served at 1_500; other topics are ignored.
        t.versionServed(Map.of("features-0", 11L, "clicks-0", 999L), 0, 1_500);
        assertEquals(2, t.matched());
        assertEquals(1, t.unmatched());
        // A version that contains offset 11, and partition 1 up to offset 5.
        t.versionServed(Map.of("features-0", 12L, "features-1", 5L), 0, 2_000);
        assertEquals(3, t.matched());
        // The tap reports partition 1's offset 3 after the version that contains it was served at 2_000.
        t.featuresRecord(1, 3, new long[]{1_900}, 0);
        // ... and offset 5, which no version contains yet.
        t.featuresRecord(1, 5, new long[]{1_950}, 0);
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
    void eachExamplesLatencySplitsIntoVisibleTrainedPublishedAndApplied() {
        FreshnessTracker t = new FreshnessTracker("features");
        t.steadyStateFrom(0);
        t.featuresRecord(0, 10, new long[]{1_000, 1_100}, 1_300);
        t.featuresRecord(0, 11, new long[]{1_200}, 1_350);
        t.trained(0, 11, 1_400);   // record 10 wholly trained
        t.trained(0, 11, 1_420);   // a step that ended inside record 11: it is not trained yet
        t.trained(0, 12, 1_450);   // record 11 wholly trained
        t.versionServed(Map.of("features-0", 12L), 1_600, 1_700);
        // Example 1000: 300 visible + 100 trained + 200 published + 100 applied = 700; 1100: 200 + 100 + 200 + 100;
        // 1200: 150 + 100 + 150 + 100. Nearest rank of three: p50 is the middle value, p99 the largest.
        FreshnessTracker.Stages s = t.stages();
        assertEquals(3, s.visible().count());
        assertEquals(0.200, s.visible().p50Seconds(), 1e-9);
        assertEquals(0.300, s.visible().p99Seconds(), 1e-9);
        assertEquals(0.100, s.trained().p99Seconds(), 1e-9);
        assertEquals(0.200, s.published().p50Seconds(), 1e-9);
        assertEquals(0.200, s.published().maxSeconds(), 1e-9);
        assertEquals(0.100, s.applied().p50Seconds(), 1e-9);
        assertEquals(0.600, t.summary().p50Seconds(), 1e-9);
    }

    @Test
    void stagesSeenOutOfOrderAreClampedSoTheyStillAddUpToTheLatency() {
        FreshnessTracker t = new FreshnessTracker("features");
        t.steadyStateFrom(0);
        t.trained(0, 13, 1_800);
        t.versionServed(Map.of("features-0", 13L), 1_900, 2_000);
        // The tap saw record 12 committed only after the replica served it (the tap lagged).
        t.featuresRecord(0, 12, new long[]{1_500}, 5_000);
        FreshnessTracker.Stages s = t.stages();
        assertEquals(0.500, s.visible().p50Seconds(), 1e-9);
        assertEquals(0.0, s.trained().p50Seconds(), 1e-9);
        assertEquals(0.0, s.published().p50Seconds(), 1e-9);
        assertEquals(0.0, s.applied().p50Seconds(), 1e-9);
        assertEquals(0.500, t.summary().p50Seconds(), 1e-9);
    }

    @Test
    void examplesProducedBeforeTheSteadyStateAreMatchedButNotCounted() {
        FreshnessTracker t = new FreshnessTracker("p.features");
        t.featuresRecord(0, 0, new long[]{100, 5_000}, 0);
        t.steadyStateFrom(1_000);
        t.versionServed(Map.of("p.features-0", 1L), 0, 6_000);
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
