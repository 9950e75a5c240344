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
 * <p><b>Where the time goes</b> ({@link #stages}): each served example's latency splits at three more
 * moments: when the tap saw its record committed on {@code features} (Flink processing, batching and
 * the checkpoint that commits the transaction), when the trainer finished the step that took its last
 * example ({@link #trained}: waiting for a batch to fill, a backlog, the step), and when the publisher
 * wrote the version that first holds it (waiting for the delta interval, writing the version). The rest
 * is announcing and applying it on the replica. The tap and the trainer read {@code features}
 * separately, so a stage that ends before it begins by their reckoning counts as 0.
 *
 * <p>Thread-safe. Totals count only examples produced after {@link #steadyStateFrom} (set when the
 * first model is served): the start-up is reported separately as time to first model. The live view
 * ({@link #drainRecent}) counts every example served in its interval.
 */
public final class FreshnessTracker {
    static final int VERSIONS_KEPT = 4096;
    /** Training steps remembered per partition until the examples they took are served. */
    static final int STEPS_KEPT = 65_536;

    private record Pending(long offset, long[] eventTimes, long visibleAt) {
    }

    private record Served(long publishedAt, long servedAt, Map<Integer, Long> nextOffsets) {
    }

    /** A training step that finished at {@code at} and left partition's position at record {@code nextOffset}. */
    private record Step(long nextOffset, long at) {
    }

    private final String featuresTopic;
    private final Map<Integer, ArrayDeque<Pending>> pending = new HashMap<>();
    private final ArrayDeque<Served> versions = new ArrayDeque<>();
    private final LatencyHistogram total = new LatencyHistogram();
    private final LatencyHistogram recent = new LatencyHistogram();
    private final Map<Integer, ArrayDeque<Step>> steps = new HashMap<>();
    private final LatencyHistogram visible = new LatencyHistogram();
    private final LatencyHistogram trained = new LatencyHistogram();
    private final LatencyHistogram published = new LatencyHistogram();
    private final LatencyHistogram applied = new LatencyHistogram();
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
        visible.clear();
        trained.clear();
        published.clear();
        applied.clear();
        steadyStateFrom = epochMillis;
    }

    /** A committed {@code features} record, seen at {@code visibleAtMillis}: its examples' event times (production times). */
    public synchronized void featuresRecord(int partition, long offset, long[] eventTimes, long visibleAtMillis) {
        Pending record = new Pending(offset, eventTimes.clone(), visibleAtMillis);
        Served first = firstServing(partition, offset);
        if (first != null) {
            record(partition, record, first);
        } else {
            pending.computeIfAbsent(partition, p -> new ArrayDeque<>()).addLast(record);
        }
    }

    /**
     * A training step finished at {@code atMillis}, leaving {@code partition}'s position at record
     * {@code nextOffset} (every record before it is wholly trained).
     */
    public synchronized void trained(int partition, long nextOffset, long atMillis) {
        ArrayDeque<Step> s = steps.computeIfAbsent(partition, p -> new ArrayDeque<>());
        if (!s.isEmpty() && s.peekLast().nextOffset() >= nextOffset) {
            return; // a step that ended inside the same record as the one before: that record is not trained yet
        }
        s.addLast(new Step(nextOffset, atMillis));
        if (s.size() > STEPS_KEPT) {
            s.removeFirst();
        }
    }

    /**
     * A replica started answering, at {@code servedAtMillis}, with a version written at
     * {@code publishedAtMillis} whose provenance has {@code inputOffsets} ({@code "topic-partition" -> next
     * offset}); entries for other topics are ignored.
     */
    public synchronized void versionServed(Map<String, Long> inputOffsets, long publishedAtMillis, long servedAtMillis) {
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
        Served served = new Served(publishedAtMillis, servedAtMillis, next);
        versions.addLast(served);
        if (versions.size() > VERSIONS_KEPT) {
            versions.removeFirst();
        }
        next.forEach((partition, offset) -> {
            ArrayDeque<Pending> queue = pending.get(partition);
            while (queue != null && !queue.isEmpty() && queue.peekFirst().offset() < offset) {
                record(partition, queue.removeFirst(), served);
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

    private void record(int partition, Pending record, Served served) {
        long trainedAt = trainedAt(partition, record.offset());
        long servedAt = served.servedAt();
        for (long t : record.eventTimes()) {
            matched++;
            long latency = servedAt - t;
            // The live view shows every served example, backlog included: a trainer that falls behind shows as growing freshness.
            recent.add(latency);
            if (t >= steadyStateFrom) {
                total.add(latency);
                // Stage ends as each side saw them; clamped so the stages of one example add up to its latency.
                long seen = Math.min(Math.max(record.visibleAt(), t), servedAt);
                long pub = Math.min(Math.max(served.publishedAt(), seen), servedAt);
                visible.add(seen - t);
                if (trainedAt != Long.MIN_VALUE) {
                    long tr = Math.min(Math.max(trainedAt, seen), pub);
                    trained.add(tr - seen);
                    published.add(pub - tr);
                }
                applied.add(servedAt - pub);
            }
        }
    }

    /**
     * When the step that trained the last example of record {@code offset} finished (Long.MIN_VALUE when
     * no step was reported); forgets the steps no later record can need (records are matched in offset order).
     */
    private long trainedAt(int partition, long offset) {
        ArrayDeque<Step> s = steps.get(partition);
        if (s == null) {
            return Long.MIN_VALUE;
        }
        while (!s.isEmpty() && s.peekFirst().nextOffset() <= offset) {
            s.removeFirst();
        }
        return s.isEmpty() ? Long.MIN_VALUE : s.peekFirst().at();
    }

    /** Freshness percentiles since {@link #steadyStateFrom}, in seconds. */
    public synchronized Summary summary() {
        return summaryOf(total);
    }

    /** Where the time went, per stage, for the examples in {@link #summary()} (see the class comment). */
    public synchronized Stages stages() {
        return new Stages(summaryOf(visible), summaryOf(trained), summaryOf(published), summaryOf(applied));
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

    /**
     * Per stage of the examples' way (see the class comment):
     *
     * @param visible   production to committed on {@code features} (ingest, Flink, the checkpoint that commits)
     * @param trained   committed to trained (batch fill, backlog, the step); examples whose step was reported only
     * @param published trained to written as a model version (delta interval, writing it); same examples as {@code trained}
     * @param applied   written to answered with by the replica (announcement, delta apply, ONNX session)
     */
    public record Stages(Summary visible, Summary trained, Summary published, Summary applied) {
    }

}
