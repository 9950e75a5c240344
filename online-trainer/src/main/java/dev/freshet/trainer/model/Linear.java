package dev.freshet.trainer.model;

import dev.freshet.trainer.LayerShape;

/**
 * One fully connected layer over a batch, {@code y = act(x W^T + b)}: x [B, in] -> y [B, out], W [out, in]
 * and b [out] read from the flat parameter array at the offsets of its {@link LayerShape}; gradients
 * written to a flat array of the same layout. Workspaces are sized once for a batch capacity, so a
 * step allocates nothing.
 *
 * <p>Determinism: the forward pass and dX are split over examples, dW and db over output neurons;
 * every output element is summed by one thread in a fixed order (over {@code i}, or over examples
 * {@code b} ascending), so the result does not depend on the number of threads.
 *
 * <p>bf16 (emulating a bf16 tensor-core GEMM): the operands of all three GEMMs (x and W forward, dY
 * and W for dX, dY and x for dW) are rounded to bf16; products are accumulated in fp32, and outputs,
 * the bias and the ReLU stay fp32.
 */
final class Linear {
    private static final int OUT_BLOCK = 32;
    private static final int EXAMPLE_BLOCK = 8;

    final LayerShape shape;
    private final int in;
    private final int out;
    private final boolean bf16;
    private final ParallelFor pool;
    private final float[] params;
    private final float[] grad;

    /** Output activations [capacity, out], after the ReLU where there is one. */
    final float[] y;
    /** Gradient of the loss w.r.t. this layer's input [capacity, in]. */
    final float[] dx;
    private final float[] xRounded;
    private final float[] wt;
    private final float[] wRounded;

    private float[] x;
    private float[] dy;
    private int n;
    private boolean needDx;

    private final ParallelFor.RangeTask transposeTask = this::transpose;
    private final ParallelFor.RangeTask roundInputTask = this::roundInput;
    private final ParallelFor.RangeTask forwardTask = this::forwardRows;
    private final ParallelFor.RangeTask backwardInputTask = this::backwardRows;
    private final ParallelFor.RangeTask backwardWeightTask = this::backwardWeights;

    Linear(LayerShape shape, float[] params, float[] grad, int capacity, boolean bf16, ParallelFor pool) {
        this.shape = shape;
        this.in = shape.in();
        this.out = shape.out();
        this.bf16 = bf16;
        this.pool = pool;
        this.params = params;
        this.grad = grad;
        this.y = new float[capacity * out];
        this.dx = new float[capacity * in];
        this.wt = new float[in * out];
        this.xRounded = bf16 ? new float[capacity * in] : null;
        this.wRounded = bf16 ? new float[in * out] : null;
    }

    /** x [n, in] -> {@link #y} [n, out]. {@code x} must stay unchanged until {@link #backward}. */
    void forward(float[] input, int count) {
        this.n = count;
        pool.run(out, transposeTask);
        if (bf16) {
            this.x = input;
            pool.run(count, roundInputTask);
            this.x = xRounded;
        } else {
            this.x = input;
        }
        pool.run(count, forwardTask);
    }

    /**
     * Given dL/dy [n, out] in {@code outputGradient} (overwritten: the ReLU mask is applied in place),
     * writes dL/dW and dL/db to the gradient array and, if {@code inputGradient}, dL/dx to {@link #dx}.
     */
    void backward(float[] outputGradient, boolean inputGradient) {
        this.dy = outputGradient;
        this.needDx = inputGradient;
        pool.run(n, backwardInputTask);
        pool.run(out, backwardWeightTask);
    }

    private void transpose(int from, int to) {
        int w = shape.weightOffset();
        for (int o = from; o < to; o++) {
            for (int i = 0; i < in; i++) {
                float v = params[w + o * in + i];
                if (bf16) {
                    v = Bf16.round(v);
                    wRounded[o * in + i] = v;
                }
                wt[i * out + o] = v;
            }
        }
    }

    private void roundInput(int from, int to) {
        Bf16.round(x, from * in, xRounded, from * in, (to - from) * in);
    }

    /**
     * y[b] = bias + sum_i x[b, i] Wt[i, :], i ascending. Examples go in blocks of {@link #EXAMPLE_BLOCK}
     * so that each row of Wt is read once per block rather than once per example (the layer's weights
     * rarely fit in L1); each y[b, o] still sums in the same order.
     */
    private void forwardRows(int from, int to) {
        int bias = shape.biasOffset();
        float[] xs = x;
        for (int b0 = from; b0 < to; b0 += EXAMPLE_BLOCK) {
            int b1 = Math.min(to, b0 + EXAMPLE_BLOCK);
            for (int b = b0; b < b1; b++) System.arraycopy(params, bias, y, b * out, out);
            for (int i = 0; i < in; i++) {
                int wRow = i * out;
                for (int b = b0; b < b1; b++) {
                    float xi = xs[b * in + i];
                    if (xi == 0f) continue; // ReLU outputs are often exactly 0
                    int yRow = b * out;
                    for (int o = 0; o < out; o++) {
                        y[yRow + o] += xi * wt[wRow + o];
                    }
                }
            }
            if (shape.relu()) {
                for (int k = b0 * out; k < b1 * out; k++) {
                    if (y[k] < 0f) y[k] = 0f;
                }
            }
        }
    }

    /** ReLU mask and bf16 rounding of dy, then dx[b] = sum_o dy[b, o] W[o, :], o ascending, in example blocks. */
    private void backwardRows(int from, int to) {
        boolean relu = shape.relu();
        for (int k = from * out; k < to * out; k++) {
            if (relu && y[k] <= 0f) {
                dy[k] = 0f;
            } else if (bf16) {
                dy[k] = Bf16.round(dy[k]);
            }
        }
        if (!needDx) return;
        float[] w = bf16 ? wRounded : params;
        int wOff = bf16 ? 0 : shape.weightOffset();
        java.util.Arrays.fill(dx, from * in, to * in, 0f);
        for (int b0 = from; b0 < to; b0 += EXAMPLE_BLOCK) {
            int b1 = Math.min(to, b0 + EXAMPLE_BLOCK);
            for (int o = 0; o < out; o++) {
                int wRow = wOff + o * in;
                for (int b = b0; b < b1; b++) {
                    float g = dy[b * out + o];
                    if (g == 0f) continue;
                    int xRow = b * in;
                    for (int i = 0; i < in; i++) {
                        dx[xRow + i] += g * w[wRow + i];
                    }
                }
            }
        }
    }

    /** dW[o, :] = sum_b dy[b, o] x[b, :] and db[o] = sum_b dy[b, o], examples in ascending order. */
    private void backwardWeights(int from, int to) {
        int wOff = shape.weightOffset();
        int bOff = shape.biasOffset();
        float[] xs = x;
        for (int o0 = from; o0 < to; o0 += OUT_BLOCK) {
            int o1 = Math.min(to, o0 + OUT_BLOCK);
            java.util.Arrays.fill(grad, wOff + o0 * in, wOff + o1 * in, 0f);
            java.util.Arrays.fill(grad, bOff + o0, bOff + o1, 0f);
            for (int b = 0; b < n; b++) {
                int xRow = b * in;
                int yRow = b * out;
                for (int o = o0; o < o1; o++) {
                    float g = dy[yRow + o];
                    if (g == 0f) continue;
                    grad[bOff + o] += g;
                    int gRow = wOff + o * in;
                    for (int i = 0; i < in; i++) {
                        grad[gRow + i] += g * xs[xRow + i];
                    }
                }
            }
        }
    }
}
