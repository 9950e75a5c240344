package dev.freshet.trainer.retrain;

import dev.freshet.config.ConfigSource;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The promotion rule, broker-free. */
class RetrainJobUnitTest {
    private static final RetrainConfig CONFIG = RetrainConfig.from(ConfigSource.of(Map.of(
            "retrain.min-auc-gain", "0.005", "retrain.max-logloss-increase", "0.001")));

    private static boolean promotes(double candAuc, double candLoss, double onlineAuc, double onlineLoss) {
        boolean[] p = new boolean[1];
        String reason = RetrainJob.verdict(CONFIG, new Evaluation(candAuc, candLoss, 1000), new Evaluation(onlineAuc, onlineLoss, 1000), p);
        assertTrue(reason.contains("1,000 held-out examples"), reason);
        return p[0];
    }

    @Test
    void promotesOnlyWithTheAucMarginAndNoWorseLogLoss() {
        assertTrue(promotes(0.760, 0.50, 0.750, 0.51));
        assertTrue(promotes(0.755, 0.5005, 0.750, 0.50), "exactly the margin; log loss within its allowance");
        assertFalse(promotes(0.754, 0.40, 0.750, 0.50), "auc gain below the margin");
        assertFalse(promotes(0.800, 0.52, 0.750, 0.50), "log loss worse than allowed");
        assertFalse(promotes(Double.NaN, 0.40, 0.750, 0.50), "undefined candidate auc never promotes");
    }
}
