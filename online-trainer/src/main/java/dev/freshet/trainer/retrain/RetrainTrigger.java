package dev.freshet.trainer.retrain;

/** Why a retrain started. */
public enum RetrainTrigger {
    /** {@code retrain.interval} passed since the previous scheduled start. */
    SCHEDULE,
    /** Progressive AUC stayed below {@code retrain.drift-auc} for {@code retrain.drift-for}. */
    DRIFT,
    /** {@code freshet retrain}, or a call of {@link RetrainScheduler#requestNow()}. */
    COMMAND
}
