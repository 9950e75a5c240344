package dev.freshet.trainer.retrain;

import java.util.Locale;

/**
 * One model's quality on the held-out slice.
 *
 * @param auc      exact ROC AUC; NaN when the slice holds one class only
 * @param logLoss  mean binary cross-entropy (natural log)
 * @param examples examples in the slice
 */
public record Evaluation(double auc, double logLoss, long examples) {
    @Override
    public String toString() {
        return String.format(Locale.ROOT, "auc %.4f, logloss %.4f on %,d examples", auc, logLoss, examples);
    }
}
