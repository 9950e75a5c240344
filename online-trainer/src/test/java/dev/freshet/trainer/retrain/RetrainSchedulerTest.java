package dev.freshet.trainer.retrain;

import dev.freshet.config.ConfigSource;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.TrainerBackend;
import dev.freshet.trainer.TrainingProgress;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** When retrains start: the schedule and the drift trigger, on an injected clock (no sleeping). */
class RetrainSchedulerTest {
    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

    /** Only the progressive AUC is read by the scheduler's decision. */
    private static final class AucOnly implements LiveModel {
        double auc = Double.NaN;

        @Override public ModelConfig config() { throw new UnsupportedOperationException(); }
        @Override public Map<TopicPartition, Long> position() { throw new UnsupportedOperationException(); }
        @Override public Map<TopicPartition, Long> copyTo(TrainerBackend target) { throw new UnsupportedOperationException(); }
        @Override public void promote(ModelState candidate, TrainingProgress progress) { throw new UnsupportedOperationException(); }
        @Override public double progressiveAuc() { return auc; }
    }

    private static RetrainScheduler scheduler(Map<String, String> settings, AucOnly live) {
        RetrainConfig config = RetrainConfig.from(ConfigSource.of(settings));
        RetrainJob job = new RetrainJob(config, live, (c, t) -> { throw new UnsupportedOperationException(); }, Map.of(),
                "features", Clock.systemUTC(), null);
        return new RetrainScheduler(config, job, live, Clock.systemUTC(), null);
    }

    @Test
    void scheduleFiresEveryInterval() {
        RetrainScheduler s = scheduler(Map.of("retrain.interval", "1h"), new AucOnly());
        assertEquals(Optional.empty(), s.due(T0), "the first tick starts the clock");
        assertEquals(Optional.empty(), s.due(T0.plus(Duration.ofMinutes(59))));
        assertEquals(Optional.of(RetrainTrigger.SCHEDULE), s.due(T0.plus(Duration.ofMinutes(60))));
        assertEquals(Optional.empty(), s.due(T0.plus(Duration.ofMinutes(61))));
        assertEquals(Optional.of(RetrainTrigger.SCHEDULE), s.due(T0.plus(Duration.ofMinutes(120))));
    }

    @Test
    void nothingFiresWhenBothTriggersAreOff() {
        AucOnly live = new AucOnly();
        live.auc = 0.5;
        RetrainScheduler s = scheduler(Map.of(), live);
        for (int m = 0; m < 10_000; m += 100) {
            assertEquals(Optional.empty(), s.due(T0.plus(Duration.ofMinutes(m))));
        }
    }

    @Test
    void driftFiresOnlyAfterTheAucStaysLowLongEnough() {
        AucOnly live = new AucOnly();
        RetrainScheduler s = scheduler(Map.of("retrain.drift-auc", "0.70", "retrain.drift-for", "10m", "retrain.cooldown", "30m"), live);
        live.auc = Double.NaN; // unknown at start-up: never drift
        assertEquals(Optional.empty(), s.due(T0));
        live.auc = 0.65;
        assertEquals(Optional.empty(), s.due(T0.plus(Duration.ofMinutes(1))));
        assertEquals(Optional.empty(), s.due(T0.plus(Duration.ofMinutes(5))));
        live.auc = 0.75; // recovers: the count starts again
        assertEquals(Optional.empty(), s.due(T0.plus(Duration.ofMinutes(6))));
        live.auc = 0.65;
        assertEquals(Optional.empty(), s.due(T0.plus(Duration.ofMinutes(7))));
        assertEquals(Optional.empty(), s.due(T0.plus(Duration.ofMinutes(16))));
        assertEquals(Optional.of(RetrainTrigger.DRIFT), s.due(T0.plus(Duration.ofMinutes(17))));
    }

    @Test
    void driftWaitsForTheCooldownAfterARetrain() {
        AucOnly live = new AucOnly();
        RetrainScheduler s = scheduler(Map.of("retrain.drift-auc", "0.70", "retrain.drift-for", "1m", "retrain.cooldown", "30m"), live);
        live.auc = 0.6;
        s.ended(T0); // a retrain just ended and did not help
        assertEquals(Optional.empty(), s.due(T0.plus(Duration.ofMinutes(1))));
        assertEquals(Optional.empty(), s.due(T0.plus(Duration.ofMinutes(20))), "low for long enough, but within the cooldown");
        assertEquals(Optional.of(RetrainTrigger.DRIFT), s.due(T0.plus(Duration.ofMinutes(30))));
    }
}
