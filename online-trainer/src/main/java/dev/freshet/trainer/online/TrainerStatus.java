package dev.freshet.trainer.online;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * What the online trainer is doing, for status lines and metric export.
 *
 * @param examplesPerSecond trained examples per second since the previous status
 * @param auc               progressive AUC over the metric window (NaN until both classes were seen)
 * @param logLoss           progressive log loss over the window
 * @param checkpointAge     time since the newest checkpoint; null before the first
 * @param modelVersion      the training step of the newest model handed to the sink (-1: none yet)
 * @param rejectedRecords   features records refused since start (bad input)
 * @param waitingFor        what the loop waits for ("partition 3" under round-robin), or "" when training
 */
public record TrainerStatus(long step, long trainedExamples, double examplesPerSecond, double auc, double logLoss, int window,
                            Duration checkpointAge, long checkpointStep, long modelVersion, long rejectedRecords, String waitingFor) {

    /** One line: "step 1205 | 1234567 examples | 45210 ex/s | AUC 0.7712 logloss 0.4563 (last 100000) | checkpoint 42s ago (step 1100) | model v1200 | rejected 3". */
    public String line() {
        String ckpt = checkpointAge == null ? "no checkpoint yet" : "checkpoint " + checkpointAge.toSeconds() + "s ago (step " + checkpointStep + ")";
        return String.format(Locale.ROOT, "step %d | %d examples | %.0f ex/s | AUC %.4f logloss %.4f (last %d) | %s | model %s | rejected %d%s",
                step, trainedExamples, examplesPerSecond, auc, logLoss, window, ckpt, modelVersion < 0 ? "-" : "v" + modelVersion,
                rejectedRecords, waitingFor.isEmpty() ? "" : " | waiting for " + waitingFor);
    }

    /** Numeric values by metric name, for export ("trainer.auc", ...). */
    public Map<String, Double> asMap() {
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("trainer.step", (double) step);
        m.put("trainer.examples", (double) trainedExamples);
        m.put("trainer.examples_per_second", examplesPerSecond);
        m.put("trainer.auc", auc);
        m.put("trainer.logloss", logLoss);
        m.put("trainer.checkpoint_age_seconds", checkpointAge == null ? Double.NaN : checkpointAge.toMillis() / 1000.0);
        m.put("trainer.model_version", (double) modelVersion);
        m.put("trainer.rejected_records", (double) rejectedRecords);
        return m;
    }
}
