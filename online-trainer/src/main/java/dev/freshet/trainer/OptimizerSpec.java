package dev.freshet.trainer;

import java.util.Objects;

/**
 * @param learningRate step size
 * @param eps          added to the root of the accumulator (Adagrad) or second moment (Adam)
 * @param beta1        Adam's first-moment decay (ignored otherwise)
 * @param beta2        Adam's second-moment decay (ignored otherwise)
 * @param initialAccumulator Adagrad accumulators start here
 */
public record OptimizerSpec(OptimizerKind kind, float learningRate, float eps, float beta1, float beta2,
                            float initialAccumulator) {
    public OptimizerSpec {
        Objects.requireNonNull(kind, "kind");
        if (!(learningRate > 0) || !Float.isFinite(learningRate)) {
            throw new IllegalArgumentException("learning rate " + learningRate + " must be a positive finite number");
        }
        if (!(eps > 0)) throw new IllegalArgumentException("optimizer eps " + eps + " must be > 0");
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
            throw new IllegalArgumentException("Adam betas " + beta1 + ", " + beta2 + " must lie in [0, 1)");
        }
        if (!(initialAccumulator >= 0)) throw new IllegalArgumentException("initial accumulator " + initialAccumulator + " must be >= 0");
    }

    public static OptimizerSpec of(OptimizerKind kind, float learningRate) {
        return new OptimizerSpec(kind, learningRate, kind == OptimizerKind.ADAM ? 1e-8f : 1e-8f, 0.9f, 0.999f, 0f);
    }

    /** Floats of optimizer state per dense parameter (Adam 2, Adagrad 1, SGD 0). */
    public int denseSlots() {
        return switch (kind) {
            case SGD -> 0;
            case ADAGRAD, ROWWISE_ADAGRAD -> 1;
            case ADAM -> 2;
        };
    }
}
