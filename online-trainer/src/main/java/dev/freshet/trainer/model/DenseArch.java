package dev.freshet.trainer.model;

import dev.freshet.trainer.DenseParameters;

/**
 * DLRM's bottom MLP: dense features [B, numDense] -> [B, D], a ReLU after every layer (as TorchRec's
 * {@code DenseArch} and facebookresearch/dlrm's {@code bot_l}).
 */
public final class DenseArch {
    private final Mlp mlp;
    private final int numDense;
    private final float[][] input;

    /**
     * @param grad     flat gradient array in {@link DenseParameters} layout; backward writes the bottom layers' part
     * @param capacity largest batch B
     */
    public DenseArch(DenseParameters params, float[] grad, int capacity, boolean bf16, ParallelFor pool) {
        this.mlp = new Mlp(params.bottom(), params.values(), grad, capacity, bf16, pool);
        this.numDense = params.bottom().get(0).in();
        this.input = new float[capacity][numDense];
    }

    /** dense [n, numDense] row-major (as {@code Examples.dense}) -> {@link #output()} [n][D]. */
    public void forward(float[] dense, int n) {
        for (int b = 0; b < n; b++) {
            System.arraycopy(dense, b * numDense, input[b], 0, numDense);
        }
        mlp.forward(input, n);
    }

    /** [B][D], valid for the last forward's n rows. */
    public float[][] output() {
        return mlp.output();
    }

    /** dL/d(output) [n][D] (overwritten) -> the bottom layers' weight and bias gradients. */
    public void backward(float[][] outputGradient) {
        mlp.backward(outputGradient, false);
    }
}
