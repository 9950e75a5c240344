package dev.freshet.platform.internal;

import dev.freshet.publisher.ModelPublisher;
import dev.freshet.trainer.ModelDelta;
import dev.freshet.trainer.ModelSink;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.TrainingProgress;

import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Supplier;

/**
 * Connects the online trainer to the model publisher.
 *
 * <ul>
 *   <li><b>DELTAs are published beside training.</b> A {@link ModelDelta} holds copies of the rows and
 *       weights it carries, so writing it to the store and the topic need not hold up the next steps: it
 *       goes to one publishing thread. At most one is in flight; the next hand-over waits for it, which
 *       keeps versions in order and bounds memory, and a publishing failure surfaces on the training
 *       thread at the next hand-over.</li>
 *   <li><b>A FULL when the publisher asks.</b> The publisher can only publish a DELTA on top of a FULL
 *       it published and says so through {@link ModelPublisher#fullRequested()} (before its first
 *       version, after {@code publisher.full-interval}, after a rollback). Then the hand-over becomes a
 *       FULL of the trainer's live state, written on the training thread (the state must not change
 *       meanwhile) after the DELTA in flight; the touched rows of the DELTA it replaces are in it.</li>
 *   <li><b>A busy sink does not hold up training.</b> While a DELTA is in flight, {@link #readyForDelta()}
 *       says so and the trainer hands over its next DELTA later, with the rows touched meanwhile.</li>
 * </ul>
 * Called on the training thread, between steps. {@link #close()} waits for the DELTA in flight.
 */
public final class PublishingSink implements ModelSink {
    private final ModelPublisher publisher;
    private final Supplier<ModelState> liveState;
    private final ExecutorService publishing;
    private Future<?> inFlight = CompletableFuture.completedFuture(null);
    private boolean closed;

    /** @param liveState the trainer backend's state, read only from the training thread */
    public PublishingSink(ModelPublisher publisher, Supplier<ModelState> liveState) {
        this.publisher = Objects.requireNonNull(publisher, "publisher");
        this.liveState = Objects.requireNonNull(liveState, "liveState");
        this.publishing = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "freshet-publish");
            t.setDaemon(true);
            return t;
        });
    }

    @Override
    public void delta(ModelDelta delta) {
        Objects.requireNonNull(delta, "delta");
        awaitInFlight();
        if (publisher.fullRequested()) {
            publisher.full(liveState.get(), delta.progress());
        } else {
            inFlight = publishing.submit(() -> publisher.delta(delta));
        }
    }

    /**
     * False while a DELTA is still being published: the trainer then trains on instead of waiting in
     * {@link #delta} for it, and its next DELTA carries the rows touched meanwhile. On the 2-core machine a
     * publish competing for CPU could take longer than the 250 ms delta interval and so stall every step.
     */
    @Override
    public boolean readyForDelta() {
        return inFlight.isDone();
    }

    @Override
    public void full(ModelState state, TrainingProgress progress) {
        awaitInFlight();
        publisher.full(state, progress);
    }

    private void awaitInFlight() {
        if (closed) {
            throw new IllegalStateException("the publishing sink is closed");
        }
        try {
            inFlight.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for a model version to be published", e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            inFlight = CompletableFuture.completedFuture(null);
            if (cause instanceof RuntimeException r) throw r;
            if (cause instanceof Error err) throw err;
            throw new IllegalStateException("publishing a DELTA failed: " + cause, cause);
        }
    }

    /** Waits for the DELTA in flight, then stops the publishing thread; idempotent. */
    @Override
    public void close() {
        if (closed) return;
        try {
            awaitInFlight();
        } finally {
            closed = true;
            publishing.shutdown();
        }
    }
}
