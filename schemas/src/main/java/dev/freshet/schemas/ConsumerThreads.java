package dev.freshet.schemas;

import org.apache.kafka.clients.consumer.Consumer;

/** For a Kafka consumer polled by a thread of its own (the demo's feature tap, a serving replica, the cache's frequency hints). */
public final class ConsumerThreads {
    private ConsumerThreads() {
    }

    /**
     * Wakes {@code consumer} out of its poll and waits up to 10 s for {@code thread} to end; the loop on that
     * thread sees the WakeupException (or the owner's running flag, cleared before this call) and closes the consumer.
     */
    public static void wakeAndJoin(Consumer<?, ?> consumer, Thread thread) {
        consumer.wakeup();
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
