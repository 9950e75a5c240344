package dev.freshet.ingest.internal;

import java.util.function.LongSupplier;

/**
 * Spaces events at a fixed rate: event n may go at {@code start + n / rate}. After a stall (a full send
 * buffer, a slow disk) it does not burst to catch up by more than one second's worth of events, so a
 * rate limit stays a limit. Time and sleeping are injected so that tests need not sleep.
 */
public final class Pacer {
    /** Sleeps for the given nanoseconds. */
    @FunctionalInterface
    public interface Sleeper {
        void sleepNanos(long nanos) throws InterruptedException;
    }

    private static final long MAX_CATCH_UP_NANOS = 1_000_000_000L;

    private final double nanosPerEvent;
    private final LongSupplier nanoTime;
    private final Sleeper sleeper;
    private double next = Double.NaN;

    /** @param eventsPerSecond the rate; 0 or less means unlimited */
    public Pacer(double eventsPerSecond, LongSupplier nanoTime, Sleeper sleeper) {
        this.nanosPerEvent = eventsPerSecond > 0 ? 1e9 / eventsPerSecond : 0;
        this.nanoTime = nanoTime;
        this.sleeper = sleeper;
    }

    public static Pacer system(double eventsPerSecond) {
        return new Pacer(eventsPerSecond, System::nanoTime, nanos -> java.util.concurrent.locks.LockSupport.parkNanos(nanos));
    }

    public boolean unlimited() {
        return nanosPerEvent == 0;
    }

    /** Waits until the next event may be sent. */
    public void acquire() throws InterruptedException {
        if (nanosPerEvent == 0) {
            return;
        }
        long now = nanoTime.getAsLong();
        if (Double.isNaN(next) || next < now - MAX_CATCH_UP_NANOS) {
            next = now;
        }
        long wait = (long) (next - now);
        if (wait > 0) {
            sleeper.sleepNanos(wait);
            if (Thread.interrupted()) {
                throw new InterruptedException("replay interrupted");
            }
        }
        next += nanosPerEvent;
    }
}
