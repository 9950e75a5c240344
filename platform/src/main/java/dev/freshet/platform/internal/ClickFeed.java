package dev.freshet.platform.internal;

import dev.freshet.features.FeatureLayout;
import dev.freshet.ingest.ClickProducer;
import dev.freshet.ingest.EventTimeSource;
import dev.freshet.ingest.ParsedLine;
import dev.freshet.ingest.SyntheticClicks;
import dev.freshet.ingest.SyntheticConfig;
import dev.freshet.ingest.TsvClickReader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Clock;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Feeds the embedded pipeline from one thread: the seeded synthetic stream or a Criteo TSV file, at a
 * fixed rate, through the real {@link ClickProducer}. Event time is the wall clock at production, so
 * an example's event time is its production time and freshness can be measured from it.
 */
public final class ClickFeed implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ClickFeed.class);

    private final ClickProducer producer;
    private final Thread thread;
    private final AtomicLong rejectedLines = new AtomicLong();
    private volatile boolean stop;
    private volatile boolean finished;
    private volatile Exception failure;

    private ClickFeed(ClickProducer producer, String what, Loop loop) {
        this.producer = producer;
        this.thread = new Thread(() -> {
            try {
                loop.run(this);
            } catch (InterruptedException e) {
                // stopped
            } catch (Exception e) {
                failure = e;
                LOG.warn("{} feed stopped: {}", what, e.toString());
            } finally {
                producer.flush();
                finished = true;
            }
        }, "freshet-feed");
        thread.setDaemon(true);
    }

    /** The feeding loop; it checks {@link #stopping()} between events. */
    private interface Loop {
        void run(ClickFeed feed) throws Exception;
    }

    private boolean stopping() {
        return stop;
    }

    /**
     * The synthetic stream from event {@code firstOrdinal} on (the events earlier runs produced into the same
     * topic are not replayed): {@code events} events (0 = until closed) at {@code rate} per second (0 = unlimited).
     */
    public static ClickFeed synthetic(ClickProducer producer, SyntheticConfig config, FeatureLayout layout, double rate, long events,
                                      long firstOrdinal) {
        Objects.requireNonNull(producer, "producer");
        SyntheticClicks clicks = new SyntheticClicks(config, layout, EventTimeSource.wallClock(Clock.systemUTC()), firstOrdinal);
        return new ClickFeed(producer, "synthetic", feed -> {
            Pace pacer = new Pace(rate);
            for (long n = 0; (events == 0 || n < events) && !feed.stopping(); n++) {
                pacer.acquire();
                producer.send(clicks.next(), (m, e) -> { });
            }
        });
    }

    /** Every line of a Criteo-layout TSV file (plain or .gz) once, at {@code rate} per second; bad lines are counted. */
    public static ClickFeed tsv(ClickProducer producer, Path file, FeatureLayout layout, double rate) {
        Objects.requireNonNull(file, "file");
        return new ClickFeed(producer, "TSV " + file, feed -> {
            Pace pacer = new Pace(rate);
            try (TsvClickReader reader = TsvClickReader.open(file, layout, EventTimeSource.wallClock(Clock.systemUTC()))) {
                ParsedLine line;
                while (!feed.stopping() && (line = reader.next()) != null) {
                    if (line instanceof ParsedLine.Accepted accepted) {
                        pacer.acquire();
                        producer.send(accepted.event(), (m, e) -> { });
                    } else {
                        feed.rejectedLines.incrementAndGet();
                    }
                }
            }
        });
    }

    /**
     * Event n may go at {@code start + n / rate}; after a stall it does not burst by more than 0.1 s of
     * events to catch up, so the rate stays a limit.
     */
    private static final class Pace {
        private final double nanosPerEvent;
        private double next = Double.NaN;

        Pace(double rate) {
            nanosPerEvent = rate > 0 ? 1e9 / rate : 0;
        }

        void acquire() throws InterruptedException {
            if (nanosPerEvent == 0) return;
            long now = System.nanoTime();
            if (Double.isNaN(next) || next < now - 100_000_000L) next = now;
            long wait = (long) (next - now);
            if (wait > 0) {
                java.util.concurrent.locks.LockSupport.parkNanos(wait);
                if (Thread.interrupted()) throw new InterruptedException();
            }
            next += nanosPerEvent;
        }
    }

    public ClickFeed start() {
        thread.start();
        return this;
    }

    /** Events handed to the producer. */
    public long sent() {
        return producer.sent();
    }

    /** Events the broker acknowledged: the pipeline's input. */
    public long produced() {
        return producer.acked();
    }

    /** Input lines that were not valid click events and so never reached Kafka. */
    public long rejectedLines() {
        return rejectedLines.get();
    }

    /** True once the feed ran out (all events sent and flushed) or was stopped. */
    public boolean finished() {
        return finished;
    }

    public Exception failure() {
        return failure;
    }

    /** Stops producing and waits until everything sent is acknowledged. Idempotent. */
    @Override
    public void close() {
        stop = true;
        try {
            thread.join(60_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
