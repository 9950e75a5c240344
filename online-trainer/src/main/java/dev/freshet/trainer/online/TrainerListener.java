package dev.freshet.trainer.online;

import dev.freshet.trainer.checkpoint.CheckpointStore;

/**
 * Observes the online loop from its training thread (status pages, tests). Calls must return quickly;
 * they run between steps.
 */
public interface TrainerListener {

    /**
     * After each step.
     *
     * @param partition the partition the batch came from
     * @param from      "offset:example" of its first example
     * @param to        "offset:example" just past its last example
     */
    default void afterStep(long step, int partition, String from, String to, double loss) {
    }

    /** After each file of a checkpoint is written, before the checkpoint is complete. */
    default void checkpointFileWritten(long step, String file) {
    }

    /** After a checkpoint is complete on disk, before the offsets are committed to Kafka. */
    default void checkpointWritten(CheckpointStore.Checkpoint checkpoint) {
    }

    default void status(TrainerStatus status) {
    }
}
