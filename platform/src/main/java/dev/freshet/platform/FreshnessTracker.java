package dev.freshet.platform;

import dev.freshet.platform.internal.LatencyHistogram;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Freshness, per event: the time from the event's production to the moment a serving replica answers
 * with a model version that has trained on it.
 *
 * <p>Two streams of facts meet here. The feature tap reports each committed {@code features} record:
 * its partition, offset and the event times of its examples (the embedded demo stamps event time at
 * production). The serving replica reports each version it starts answering with, and that version's
 * provenance says, per {@code features} partition, the next offset not yet in it. An example at
 * offset o of partition p is therefore served from the first version whose offset for p exceeds o;
 * its freshness is that version's serving time minus the example's event time. Either report may come
 * first, so both sides are kept until matched (versions: the last {@value #VERSIONS_KEPT}).
 *
 * <p>Thread-safe. Totals count only examples produced after {@link #steadyStateFrom} (set when the
 * first model is served): the start-up is reported separately as time to first model. The live view
 * ({@link #drainRecent}) counts every example served in its interval.
 */
public final class FreshnessTracker {
    static final int VERSIONS_KEPT = 4096;

    private record Pending(long offset, long[] eventTimes) {
    }

    private record Served(long servedAt, Map<Integer, Long> nextOffsets) {
    }

    private final String featuresTopic;
    private final Map<Integer, ArrayDeque<Pending>> pending = new HashMap<>();
    private final ArrayDeque<Served> versions = new ArrayDeque<>();
    private final LatencyHistogram total = new LatencyHistogram();
    private final LatencyHistogram recent = new LatencyHistogram();
    private long steadyStateFrom = Long.MAX_VALUE;
    private long matched;

    /** @param featuresTopic the name of the {@code features} topic, as it appears in provenance offsets */
    public FreshnessTracker(String featuresTopic) {
        this.featuresTopic = Objects.requireNonNull(featuresTopic, "featuresTopic");
    }

    /** Examples produced before {@code epochMillis} are left out of the totals (start-up, not freshness). */
    public synchronized void steadyStateFrom(long epochMillis) {
        steadyStateFrom = epochMillis;
    }

    /** Starts the totals afresh, counting examples produced from {@code epochMillis} on (a benchmark's measured window). */
    public synchronized void restartTotals(long epochMillis) {
        total.clear();
        steadyStateFrom = epochMillis;
    }

    /** A committed {@code features} record: its examples' event times (production times). */
    public synchronized void featuresRecord(int partition, long offset, long[] eventTimes) {
        Served first = firstServing(partition, offset);
        if (first != null) {
            record(first.servedAt(), eventTimes);
        } else {
            pending.computeIfAbsent(partition, p -> new ArrayDeque<>()).addLast(new Pending(offset, eventTimes.clone()));
        }
    }

    /**
     * A replica started answering with a version whose provenance has {@code inputOffsets}
     * ({@code "topic-partition" -> next offset}); entries for other topics are ignored.
     */
    public synchronized void versionServed(Map<String, Long> inputOffsets, long servedAtMillis) {
        Map<Integer, Long> next = new HashMap<>();
        inputOffsets.forEach((tp, offset) -> {
            int dash = tp.lastIndexOf('-');
            if (dash > 0 && tp.substring(0, dash).equals(featuresTopic)) {
                next.put(Integer.parseInt(tp.substring(dash + 1)), offset);
            }
        });
        if (next.isEmpty()) {
            return;
        }
        versions.addLast(new Served(servedAtMillis, next));
        if (versions.size() > VERSIONS_KEPT) {
            versions.removeFirst();
        }
        next.forEach((partition, offset) -> {
            ArrayDeque<Pending> queue = pending.get(partition);
            while (queue != null && !queue.isEmpty() && queue.peekFirst().offset() < offset) {
                record(servedAtMillis, queue.removeFirst().eventTimes());
            }
        });
    }

    /** The earliest known version that contains {@code offset} of {@code partition}, or null. */
    private Served firstServing(int partition, long offset) {
        for (Served s : versions) {
            Long next = s.nextOffsets().get(partition);
            if (next != null && next > offset) {
                return s;
            }
        }
        return null;
    }

    private void record(long servedAt, long[] eventTimes) {
        for (long t : eventTimes) {
            matched++;
            long latency = servedAt - t;
            // The live view shows every served example, backlog included: a trainer that falls behind shows as growing freshness.
            recent.add(latency);
            if (t >= steadyStateFrom) {
                total.add(latency);
            }
        }
    }

    /** Freshness percentiles since {@link #steadyStateFrom}, in seconds. */
    public synchronized Summary summary() {
        return summaryOf(total);
    }

    /** Percentiles of the examples matched since the previous call (for a live display), then resets them. */
    public synchronized Summary drainRecent() {
        Summary s = summaryOf(recent);
        recent.clear();
        return s;
    }

    /** Examples matched to a served version, including those before the steady state. */
    public synchronized long matched() {
        return matched;
    }

    /** Examples seen on {@code features} but in no served version yet. */
    public synchronized long unmatched() {
        return pending.values().stream().flatMap(ArrayDeque::stream).mapToLong(p -> p.eventTimes().length).sum();
    }

    private static Summary summaryOf(LatencyHistogram h) {
        return new Summary(h.count(), h.percentileMillis(0.50) / 1000.0, h.percentileMillis(0.99) / 1000.0, h.maxMillis() / 1000.0);
    }

    /** @param count examples measured; percentiles NaN when none */
    public record Summary(long count, double p50Seconds, double p99Seconds, double maxSeconds) {
    }

}
