package dev.freshet.publisher;

import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/** What the publisher has done, for logs, the progress display and Prometheus. Thread-safe. */
public final class PublisherMetrics {
    final AtomicLong deltasPublished = new AtomicLong();
    final AtomicLong fullsPublished = new AtomicLong();
    final AtomicLong rowsPublished = new AtomicLong();
    final AtomicLong bytesPublished = new AtomicLong();
    final AtomicLong chunksPublished = new AtomicLong();
    final AtomicLong publishFailures = new AtomicLong();
    final AtomicLong lastVersion = new AtomicLong(-1);
    private final Map<QualityGate.Reason, AtomicLong> rejected = new EnumMap<>(QualityGate.Reason.class);

    PublisherMetrics() {
        for (QualityGate.Reason r : QualityGate.Reason.values()) rejected.put(r, new AtomicLong());
    }

    void reject(QualityGate.Reason reason) {
        rejected.get(reason).incrementAndGet();
    }

    public long deltasPublished() {
        return deltasPublished.get();
    }

    public long fullsPublished() {
        return fullsPublished.get();
    }

    public long rowsPublished() {
        return rowsPublished.get();
    }

    public long bytesPublished() {
        return bytesPublished.get();
    }

    public long chunksPublished() {
        return chunksPublished.get();
    }

    /** Versions written to the store whose announcement on the topic failed (subscribers find them on resync). */
    public long publishFailures() {
        return publishFailures.get();
    }

    public long rejected(QualityGate.Reason reason) {
        return rejected.get(reason).get();
    }

    /** The newest version this publisher published, or -1. */
    public long lastVersion() {
        return lastVersion.get();
    }

    /** Prometheus text exposition of the counters. */
    public String prometheus(String model) {
        StringBuilder sb = new StringBuilder();
        String l = "{model=\"" + model + "\"}";
        sb.append("# TYPE freshet_publisher_versions_total counter\n");
        sb.append("freshet_publisher_versions_total{model=\"").append(model).append("\",kind=\"delta\"} ").append(deltasPublished()).append('\n');
        sb.append("freshet_publisher_versions_total{model=\"").append(model).append("\",kind=\"full\"} ").append(fullsPublished()).append('\n');
        sb.append("# TYPE freshet_publisher_rejected_total counter\n");
        for (QualityGate.Reason r : QualityGate.Reason.values()) {
            sb.append("freshet_publisher_rejected_total{model=\"").append(model).append("\",reason=\"").append(r.name().toLowerCase())
                    .append("\"} ").append(rejected(r)).append('\n');
        }
        sb.append("# TYPE freshet_publisher_rows_total counter\nfreshet_publisher_rows_total").append(l).append(' ').append(rowsPublished()).append('\n');
        sb.append("# TYPE freshet_publisher_bytes_total counter\nfreshet_publisher_bytes_total").append(l).append(' ').append(bytesPublished()).append('\n');
        sb.append("# TYPE freshet_publisher_failures_total counter\nfreshet_publisher_failures_total").append(l).append(' ').append(publishFailures()).append('\n');
        sb.append("# TYPE freshet_publisher_version gauge\nfreshet_publisher_version").append(l).append(' ').append(lastVersion()).append('\n');
        return sb.toString();
    }
}
