package dev.freshet.ingest;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;

/** Event times for records whose source has no event-time field, by the record's ordinal in the run (0, 1, ...). */
@FunctionalInterface
public interface EventTimeSource {
    /** Epoch milliseconds of the {@code ordinal}-th record. */
    long eventTime(long ordinal);

    /** The time the record is read. */
    static EventTimeSource wallClock(Clock clock) {
        Objects.requireNonNull(clock, "clock");
        return ordinal -> clock.millis();
    }

    /** {@code start + ordinal * step}: reproducible, spaced as if the log had been written at a steady rate. */
    static EventTimeSource sequence(Instant start, Duration step) {
        long startMs = start.toEpochMilli();
        long stepMs = step.toMillis();
        return ordinal -> startMs + ordinal * stepMs;
    }

    static EventTimeSource from(IngestConfig config, Clock clock) {
        return config.eventTime() == IngestConfig.EventTimePolicy.SEQUENCE
                ? sequence(config.eventTimeStart(), config.eventTimeStep()) : wallClock(clock);
    }
}
