package dev.freshet.trainer.retrain;

import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.TrainerBackend;
import dev.freshet.trainer.TrainingProgress;
import org.apache.kafka.common.TopicPartition;

import java.util.Map;

/**
 * The online trainer as a retrain sees it: the one seam between {@link RetrainJob} and the online loop.
 * {@link #copyTo} and {@link #promote} run their work on the training thread between two steps, so
 * they see and change a consistent model and position; the caller blocks until that is done, without
 * giving up on an interrupt (the work may already be under way on the training thread, using the
 * caller's backend), and gets an {@link IllegalStateException} if the online trainer has stopped.
 *
 * <p>"Position" is, per partition of {@code features}, the offset of the record holding the first
 * example the online model has not trained on: every record before it is wholly in the model, none
 * after it is (records polled ahead but not yet trained do not count). A batch may end inside a record,
 * so the record at the position may be partly trained; the retrain treats it as untrained (the
 * candidate trains it whole), which at worst lets the online model have seen up to one batch per
 * partition of the held-out slice: a bias in its favour, never the candidate's.
 */
public interface LiveModel {

    /** The online model's config (tables, MLPs, optimizers); the candidate uses the same one, with its own seed. */
    ModelConfig config();

    /** The current position, as of the last completed step; callable from any thread. */
    Map<TopicPartition, Long> position();

    /**
     * Between two steps: loads the online model into {@code target} (a backend the caller owns) and
     * returns the position the copy stands at.
     */
    Map<TopicPartition, Long> copyTo(TrainerBackend target);

    /**
     * Between two steps: replaces the online model by {@code candidate}, which holds everything before
     * {@code progress.inputOffsets()} and nothing after; publishes it as a FULL version carrying
     * {@code progress} (metrics included); discards records polled past that position and continues
     * training from it, so that every later event is trained into the promoted model exactly once.
     * The candidate's weights are copied: the caller may close it afterwards.
     */
    void promote(ModelState candidate, TrainingProgress progress);

    /** Progressive-validation AUC over the online trainer's recent window; NaN while unknown. */
    double progressiveAuc();
}
