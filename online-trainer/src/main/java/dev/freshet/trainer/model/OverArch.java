package dev.freshet.trainer.model;

import dev.freshet.trainer.DenseParameters;

/**
 * DLRM's top MLP: interaction output [B, D + F(F-1)/2] -> logits [B]; a ReLU after every layer but the
 * last (as TorchRec's {@code OverArch} and facebookresearch/dlrm's {@code top_l} without its sigmoid,
 * which the loss applies).
 */
public final class OverArch {
    private final Mlp mlp;

    public OverArch(DenseParameters params, float[] grad, int capacity, boolean bf16, ParallelFor pool) {
        this.mlp = new Mlp(params.top(), params.values(), grad, capacity, bf16, pool);
    }

    /** input [n][D + F(F-1)/2] -> {@link #logits()} [n][1]. {@code input} must stay unchanged until backward. */
    public void forward(float[][] input, int n) {
        mlp.forward(input, n);
    }

    /** [B][1]: one logit per example (the last layer has width 1). */
    public float[][] logits() {
        return mlp.output();
    }

    /** dL/d(logit) [n][1] (overwritten) -> the top layers' gradients and {@link #inputGradient()}. */
    public void backward(float[][] logitGradient) {
        mlp.backward(logitGradient, true);
    }

    /** dL/d(input) [B][D + F(F-1)/2]. */
    public float[][] inputGradient() {
        return mlp.inputGradient();
    }
}
