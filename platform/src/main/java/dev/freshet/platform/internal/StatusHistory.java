package dev.freshet.platform.internal;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The last {@code capacity} status samples, for the status page's charts (JSON at {@code /api/status}).
 * Thread-safe: the monitor appends, the HTTP server reads.
 */
public final class StatusHistory {
    private final int capacity;
    private final ArrayDeque<StatusSample> samples;

    public StatusHistory(int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("status history capacity " + capacity + " must be at least 1");
        }
        this.capacity = capacity;
        this.samples = new ArrayDeque<>(capacity);
    }

    public synchronized void add(StatusSample sample) {
        if (samples.size() == capacity) {
            samples.removeFirst();
        }
        samples.addLast(sample);
    }

    public synchronized List<StatusSample> samples() {
        return new ArrayList<>(samples);
    }

    public synchronized StatusSample latest() {
        return samples.peekLast();
    }

    /**
     * {@code {"title":..,"latest":{...},"series":{"time":[..],"producedPerSecond":[..],...}}}: columns
     * rather than rows so the page plots a series without reshaping. NaN becomes null.
     */
    public String toJson(String title) {
        List<StatusSample> all = samples();
        StringBuilder sb = new StringBuilder(256 + all.size() * 200);
        sb.append("{\"title\":").append(quote(title)).append(",\"latest\":");
        if (all.isEmpty()) {
            sb.append("null");
        } else {
            StatusSample s = all.get(all.size() - 1);
            sb.append("{\"uptimeSeconds\":").append(num(s.uptimeSeconds()))
                    .append(",\"produced\":").append(s.produced())
                    .append(",\"featurised\":").append(s.featurised())
                    .append(",\"trained\":").append(s.trained())
                    .append(",\"deadLettered\":").append(s.deadLettered())
                    .append(",\"producedPerSecond\":").append(num(s.producedPerSecond()))
                    .append(",\"featurisedPerSecond\":").append(num(s.featurisedPerSecond()))
                    .append(",\"trainedPerSecond\":").append(num(s.trainedPerSecond()))
                    .append(",\"auc\":").append(num(s.auc()))
                    .append(",\"logLoss\":").append(num(s.logLoss()))
                    .append(",\"modelVersion\":").append(s.modelVersion() < 0 ? "null" : Long.toString(s.modelVersion()))
                    .append(",\"freshnessP50Seconds\":").append(num(s.freshnessP50Seconds()))
                    .append(",\"freshnessP99Seconds\":").append(num(s.freshnessP99Seconds()))
                    .append('}');
        }
        sb.append(",\"series\":{");
        column(sb, "time", all, s -> s.uptimeSeconds());
        sb.append(',');
        column(sb, "producedPerSecond", all, StatusSample::producedPerSecond);
        sb.append(',');
        column(sb, "featurisedPerSecond", all, StatusSample::featurisedPerSecond);
        sb.append(',');
        column(sb, "trainedPerSecond", all, StatusSample::trainedPerSecond);
        sb.append(',');
        column(sb, "auc", all, StatusSample::auc);
        sb.append(',');
        column(sb, "logLoss", all, StatusSample::logLoss);
        sb.append(',');
        column(sb, "freshnessP50Seconds", all, StatusSample::freshnessP50Seconds);
        sb.append(',');
        column(sb, "freshnessP99Seconds", all, StatusSample::freshnessP99Seconds);
        return sb.append("}}").toString();
    }

    private static void column(StringBuilder sb, String name, List<StatusSample> all, java.util.function.ToDoubleFunction<StatusSample> f) {
        sb.append('"').append(name).append("\":[");
        for (int i = 0; i < all.size(); i++) {
            if (i > 0) sb.append(',');
            sb.append(num(f.applyAsDouble(all.get(i))));
        }
        sb.append(']');
    }

    private static String num(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.6g", v) : "null";
    }

    static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                default -> {
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        return sb.append('"').toString();
    }
}
