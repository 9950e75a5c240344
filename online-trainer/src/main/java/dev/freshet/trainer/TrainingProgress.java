package dev.freshet.trainer;

import java.util.Map;

/**
 * Where training stands, recorded in every model version's provenance.
 *
 * @param inputOffsets     next offset to consume per "topic-partition": everything before is in the model
 * @param trainedExamples  examples trained since initialisation
 * @param metrics          progressive validation metrics ("auc", "logloss", ...)
 * @param maxEventTime     newest event time trained on (epoch ms), for freshness
 */
public record TrainingProgress(Map<String, Long> inputOffsets, long trainedExamples, Map<String, Double> metrics,
                               long maxEventTime) {
    public TrainingProgress {
        inputOffsets = Map.copyOf(inputOffsets);
        metrics = Map.copyOf(metrics);
    }
}
