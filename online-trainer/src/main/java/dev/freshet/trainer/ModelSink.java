package dev.freshet.trainer;

/**
 * Where the online loop hands model versions: the model publisher implements it (DELTA every few
 * seconds, FULL after a checkpoint or a retrain); a file-writing default serves where no publisher
 * runs. Called from the training thread between steps; an implementation must copy what it keeps.
 */
public interface ModelSink extends AutoCloseable {

    /** Rows touched since the previous hand-over plus all dense weights. */
    void delta(ModelDelta delta);

    /** A complete, consistent state (e.g. right after a checkpoint or a retrain's promotion). */
    void full(ModelState state, TrainingProgress progress);

    /**
     * Whether a {@link #delta} handed over now would be taken without waiting (a sink that publishes in
     * the background says false while the previous one is still in flight). The loop asks when a DELTA
     * falls due and, while false, trains on; the next DELTA it hands over carries every row touched
     * meanwhile, so nothing is lost, and training is not held up by a slow publish. Default: true.
     */
    default boolean readyForDelta() {
        return true;
    }

    @Override
    default void close() {
    }
}
