package dev.freshet.platform.internal;

/**
 * The pipeline at one moment, as the console line and the status page show it. Rates are per second
 * over the interval since the previous sample; NaN means "not known yet" (no model, no AUC).
 */
public record StatusSample(long timeMillis, double uptimeSeconds,
                           long produced, long featurised, long trained, long deadLettered,
                           double producedPerSecond, double featurisedPerSecond, double trainedPerSecond,
                           double auc, double logLoss, long modelVersion,
                           double freshnessP50Seconds, double freshnessP99Seconds) {

    /** One console line, e.g. {@code [  12s] produced 9,980/s  featurised ... model v12  freshness p50 0.41s p99 0.88s}. */
    public String consoleLine() {
        return String.format("[%5.0fs] produced %,7.0f/s  featurised %,7.0f/s  trained %,7.0f/s | AUC %s  logloss %s | model %s | freshness p50 %s p99 %s",
                uptimeSeconds, producedPerSecond, featurisedPerSecond, trainedPerSecond,
                fixed(auc, 4), fixed(logLoss, 4), modelVersion < 0 ? "-" : "v" + modelVersion,
                seconds(freshnessP50Seconds), seconds(freshnessP99Seconds));
    }

    private static String fixed(double v, int digits) {
        return Double.isNaN(v) ? "-" : String.format("%." + digits + "f", v);
    }

    private static String seconds(double v) {
        return Double.isNaN(v) ? "-" : String.format("%.2fs", v);
    }
}
