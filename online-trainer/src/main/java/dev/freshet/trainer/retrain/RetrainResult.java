package dev.freshet.trainer.retrain;

import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * What one retrain did and why: logged, written to the retrain's decision log and, for a promoted
 * candidate, carried into the FULL version's metrics.
 *
 * @param trigger         why it ran
 * @param decision        the outcome
 * @param reason          the outcome in words, with the numbers behind it
 * @param startedAt       when it started
 * @param windowStart     per "topic-partition", the first replayed offset
 * @param windowEnd       per "topic-partition", the online trainer's position at the cut: the window's end
 * @param holdoutEnd      per "topic-partition", the end of the held-out slice, which starts at {@code windowEnd}
 * @param handedOverAt    per "topic-partition", where the online trainer continued with the candidate (empty unless promoted)
 * @param windowExamples  examples in the window (one pass)
 * @param passes          passes completed
 * @param trainedExamples examples the candidate trained on, catch-up included
 * @param candidate       the candidate on the held-out slice (null if it never got that far)
 * @param online          the online model at the cut on the same slice (null likewise)
 * @param trainTime       time spent in the passes
 * @param totalTime       time from start to decision (and hand-over)
 */
public record RetrainResult(RetrainTrigger trigger, Decision decision, String reason, Instant startedAt,
                            Map<String, Long> windowStart, Map<String, Long> windowEnd, Map<String, Long> holdoutEnd,
                            Map<String, Long> handedOverAt, long windowExamples, int passes, long trainedExamples,
                            Evaluation candidate, Evaluation online, Duration trainTime, Duration totalTime) {

    public enum Decision {
        /** The candidate beat the online model by the margin: published as FULL, the online trainer continues from it. */
        PROMOTED,
        /** The candidate was not better by the margin: the online model stays. */
        KEPT_ONLINE,
        /** Nothing to decide on: an empty window or too small a held-out slice. The online model stays. */
        ABANDONED,
        /** Stopped before deciding (cancelled, killed, or the trainer shut down). The online model stays. */
        CANCELLED,
        /** Failed before deciding (e.g. the candidate diverged or Kafka was unreachable). The online model stays. */
        FAILED
    }

    public RetrainResult {
        windowStart = Map.copyOf(windowStart);
        windowEnd = Map.copyOf(windowEnd);
        holdoutEnd = Map.copyOf(holdoutEnd);
        handedOverAt = Map.copyOf(handedOverAt);
    }

    public boolean promoted() {
        return decision == Decision.PROMOTED;
    }

    /** Flat key/value form for the decision log and model metrics ("retrain.candidate.auc", ...). */
    public Map<String, String> describe() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("retrain.trigger", trigger.name().toLowerCase(Locale.ROOT));
        m.put("retrain.decision", decision.name().toLowerCase(Locale.ROOT));
        m.put("retrain.reason", reason);
        m.put("retrain.started-at", startedAt.toString());
        m.put("retrain.window.examples", Long.toString(windowExamples));
        m.put("retrain.passes", Integer.toString(passes));
        m.put("retrain.trained-examples", Long.toString(trainedExamples));
        m.put("retrain.train-seconds", String.format(Locale.ROOT, "%.3f", trainTime.toNanos() / 1e9));
        m.put("retrain.total-seconds", String.format(Locale.ROOT, "%.3f", totalTime.toNanos() / 1e9));
        if (candidate != null) {
            m.put("retrain.candidate.auc", Double.toString(candidate.auc()));
            m.put("retrain.candidate.logloss", Double.toString(candidate.logLoss()));
            m.put("retrain.holdout.examples", Long.toString(candidate.examples()));
        }
        if (online != null) {
            m.put("retrain.online.auc", Double.toString(online.auc()));
            m.put("retrain.online.logloss", Double.toString(online.logLoss()));
        }
        windowStart.forEach((k, v) -> m.put("retrain.window.start." + k, Long.toString(v)));
        windowEnd.forEach((k, v) -> m.put("retrain.window.end." + k, Long.toString(v)));
        holdoutEnd.forEach((k, v) -> m.put("retrain.holdout.end." + k, Long.toString(v)));
        handedOverAt.forEach((k, v) -> m.put("retrain.handover." + k, Long.toString(v)));
        return m;
    }

    @Override
    public String toString() {
        return "retrain (" + trigger.name().toLowerCase(Locale.ROOT) + ") " + decision.name().toLowerCase(Locale.ROOT) + ": " + reason;
    }
}
