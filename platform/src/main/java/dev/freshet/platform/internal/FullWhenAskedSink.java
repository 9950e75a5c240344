package dev.freshet.platform.internal;

import dev.freshet.publisher.ModelPublisher;
import dev.freshet.trainer.ModelDelta;
import dev.freshet.trainer.ModelSink;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.TrainingProgress;

import java.util.Objects;
import java.util.function.Supplier;

/**
 * Connects the online trainer to the model publisher. The trainer hands over a DELTA every
 * {@code trainer.delta-interval}; the publisher can only publish a DELTA on top of a FULL it published,
 * and asks for a FULL through {@link ModelPublisher#fullRequested()} (before its first version, after
 * {@code publisher.full-interval}, after a rollback). When it asks, the hand-over becomes a FULL of the
 * trainer's current state instead: the touched rows of that DELTA are in the FULL, so nothing is lost.
 * Runs on the training thread, between steps, where reading the backend's state is allowed.
 */
public final class FullWhenAskedSink implements ModelSink {
    private final ModelPublisher publisher;
    private final Supplier<ModelState> liveState;

    /** @param liveState the trainer backend's state, read only from the training thread */
    public FullWhenAskedSink(ModelPublisher publisher, Supplier<ModelState> liveState) {
        this.publisher = Objects.requireNonNull(publisher, "publisher");
        this.liveState = Objects.requireNonNull(liveState, "liveState");
    }

    @Override
    public void delta(ModelDelta delta) {
        if (publisher.fullRequested()) {
            publisher.full(liveState.get(), delta.progress());
        } else {
            publisher.delta(delta);
        }
    }

    @Override
    public void full(ModelState state, TrainingProgress progress) {
        publisher.full(state, progress);
    }
}
