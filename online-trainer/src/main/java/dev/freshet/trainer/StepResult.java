package dev.freshet.trainer;

/**
 * @param loss     mean binary cross-entropy of the batch before the update
 * @param examples examples trained on
 */
public record StepResult(double loss, int examples) {
}
