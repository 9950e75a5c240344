package dev.freshet.platform.internal;

import dev.freshet.platform.FreshnessTracker;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ProgressMonitorTest {

    @Test
    void samplesTurnCountersIntoRatesAndKeepTheLastFreshnessBetweenVersions() {
        AtomicLong produced = new AtomicLong();
        AtomicLong trained = new AtomicLong();
        FreshnessTracker freshness = new FreshnessTracker("features");
        freshness.steadyStateFrom(0);
        StatusHistory history = new StatusHistory(10);
        ProgressMonitor.Readings readings = new ProgressMonitor.Readings(produced::get, () -> 7, trained::get, () -> 2,
                () -> 0.75, () -> 0.5, () -> 3);
        // A long interval: the timer never fires during the test; samples are taken by hand.
        try (ProgressMonitor m = new ProgressMonitor(readings, freshness, history, null, Duration.ofHours(1), System.nanoTime())) {
            produced.set(1000);
            trained.set(500);
            freshness.featuresRecord(0, 0, new long[]{1_000, 1_200}, 0);
            freshness.versionServed(Map.of("features-0", 1L), 0, 1_500);
            StatusSample s = m.sample();
            assertEquals(1000, s.produced());
            assertTrue(s.producedPerSecond() > 0 && s.trainedPerSecond() > 0);
            assertEquals(s.producedPerSecond() / 2, s.trainedPerSecond(), s.producedPerSecond() * 1e-9);
            assertEquals(0.3, s.freshnessP50Seconds(), 1e-9);
            assertEquals(0.5, s.freshnessP99Seconds(), 1e-9);
            StatusSample next = m.sample();
            assertEquals(0, next.producedPerSecond(), 1e-9, "no new events since the previous sample");
            assertEquals(0.3, next.freshnessP50Seconds(), 1e-9, "no new version: the last measured freshness stays");
            assertEquals(2, history.samples().size());
            String line = next.consoleLine();
            assertTrue(line.contains("AUC 0.7500") && line.contains("model v3") && line.contains("freshness p50 0.30s p99 0.50s"), line);
        }
    }

    @Test
    void ratesCountOnlyWhatCameAfterTheStartNotTheTotalsOfAResumedRun() {
        AtomicLong trained = new AtomicLong(256_474); // a trainer resumed from a checkpoint of an earlier run
        AtomicLong produced = new AtomicLong();
        ProgressMonitor.Readings readings = new ProgressMonitor.Readings(produced::get, () -> 0, trained::get, () -> 0,
                () -> Double.NaN, () -> Double.NaN, () -> 0);
        FreshnessTracker freshness = new FreshnessTracker("features");
        try (ProgressMonitor m = new ProgressMonitor(readings, freshness, new StatusHistory(10), null, Duration.ofHours(1), System.nanoTime())) {
            produced.set(100);
            trained.addAndGet(100);
            StatusSample s = m.sample();
            assertEquals(256_574, s.trained(), "the total stays the trainer's own");
            assertEquals(s.producedPerSecond(), s.trainedPerSecond(), s.producedPerSecond() * 1e-9,
                    "the first rate counts the 100 trained since the start, not the resumed 256,474");
        }
    }
}
