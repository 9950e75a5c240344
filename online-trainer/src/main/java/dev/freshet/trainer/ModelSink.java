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

    @Override
    default void close() {
    }
}
