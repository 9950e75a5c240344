package dev.freshet.trainer.model;

import dev.freshet.trainer.LayerShape;

import java.util.Arrays;

/**
 * One fully connected layer over a batch, {@code y = act(x W^T + b)}: x [B, in] -> y [B, out], W [out, in]
 * and b [out] read from the flat parameter array at the offsets of its {@link LayerShape}; gradients
 * written to a flat array of the same layout. Workspaces are sized once for a batch capacity, so a
 * step allocates nothing.
 *
 * <p>Layout for speed: activations, gradients and per-step copies of W (and W^T) are arrays of rows,
 * and every inner loop is an axpy {@code y[k] += a * x[k]} over two rows indexed alike. HotSpot's
 * C2 vectorises that form; with two offsets into one flat array it must assume aliasing and runs
 * scalar (about 9x slower on AVX2 here). The sums stay in the same order either way.
 *
 * <p>Determinism: the forward pass and dX are split over examples, dW and db over output neurons;
 * every output element is summed by one thread in a fixed order (over {@code i}, over {@code o}, or
 * over examples {@code b} ascending), so the result does not depend on the number of threads.
 * Terms whose factor is exactly 0 (ReLU zeros) are skipped; a NaN weight that this hides in a pass
 * is still found by the backend's check of every weight after each update.
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

    /** Output activations [capacity][out], after the ReLU where there is one. */
    final float[][] y;
    /** Gradient of the loss w.r.t. this layer's input [capacity][in]. */
    final float[][] dx;
    private final float[][] xRounded;
    /** W [out][in] and W^T [in][out], copied (and in bf16 rounded) from the parameters each forward pass. */
    private final float[][] w;
    private final float[][] wt;
    /** dW [out][in] before it is copied into the flat gradient array. */
    private final float[][] gw;

    private float[][] x;
    private float[][] dy;
    private int n;
    private boolean needDx;

    private final ParallelFor.RangeTask copyWeightsTask = this::copyWeights;
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
        this.y = new float[capacity][out];
        this.dx = new float[capacity][in];
        this.w = new float[out][in];
        this.wt = new float[in][out];
        this.gw = new float[out][in];
        this.xRounded = bf16 ? new float[capacity][in] : null;
    }

    /** x [n][in] -> {@link #y} [n][out]. {@code x} must stay unchanged until {@link #backward}. */
    void forward(float[][] input, int count) {
        this.n = count;
        pool.run(out, copyWeightsTask);
        this.x = input;
        if (bf16) {
            pool.run(count, roundInputTask);
            this.x = xRounded;
        }
        pool.run(count, forwardTask);
    }

    /**
     * Given dL/dy [n][out] in {@code outputGradient} (overwritten: the ReLU mask is applied in place),
     * writes dL/dW and dL/db to the gradient array and, if {@code inputGradient}, dL/dx to {@link #dx}.
     */
    void backward(float[][] outputGradient, boolean inputGradient) {
        this.dy = outputGradient;
        this.needDx = inputGradient;
        pool.run(n, backwardInputTask);
        pool.run(out, backwardWeightTask);
    }

    private void copyWeights(int from, int to) {
        int wOff = shape.weightOffset();
        for (int o = from; o < to; o++) {
            float[] row = w[o];
            System.arraycopy(params, wOff + o * in, row, 0, in);
            for (int i = 0; i < in; i++) {
                if (bf16) row[i] = Bf16.round(row[i]);
                wt[i][o] = row[i];
            }
        }
    }

    private void roundInput(int from, int to) {
        for (int b = from; b < to; b++) {
            Bf16.round(x[b], 0, xRounded[b], 0, in);
        }
    }

    /**
     * y[b] = bias + sum_i x[b, i] W^T[i], i ascending. Examples go in blocks of {@link #EXAMPLE_BLOCK}
     * so that each row of W^T is read once per block rather than once per example.
     */
    private void forwardRows(int from, int to) {
        float[][] xs = x;
        for (int b0 = from; b0 < to; b0 += EXAMPLE_BLOCK) {
            int b1 = Math.min(to, b0 + EXAMPLE_BLOCK);
            for (int b = b0; b < b1; b++) System.arraycopy(params, shape.biasOffset(), y[b], 0, out);
            for (int i = 0; i < in; i++) {
                float[] wi = wt[i];
                for (int b = b0; b < b1; b++) {
                    float xi = xs[b][i];
                    if (xi != 0f) axpy(xi, wi, y[b], out); // ReLU outputs are often exactly 0
                }
            }
            if (shape.relu()) {
                for (int b = b0; b < b1; b++) {
                    float[] yb = y[b];
                    for (int o = 0; o < out; o++) {
                        if (yb[o] < 0f) yb[o] = 0f;
                    }
                }
            }
        }
    }

    /** ReLU mask and bf16 rounding of dy, then dx[b] = sum_o dy[b, o] W[o], o ascending, in example blocks. */
    private void backwardRows(int from, int to) {
        boolean relu = shape.relu();
        for (int b = from; b < to; b++) {
            float[] yb = y[b];
            float[] db = dy[b];
            for (int o = 0; o < out; o++) {
                if (relu && yb[o] <= 0f) {
                    db[o] = 0f;
                } else if (bf16) {
                    db[o] = Bf16.round(db[o]);
                }
            }
        }
        if (!needDx) return;
        for (int b0 = from; b0 < to; b0 += EXAMPLE_BLOCK) {
            int b1 = Math.min(to, b0 + EXAMPLE_BLOCK);
            for (int b = b0; b < b1; b++) Arrays.fill(dx[b], 0f);
            for (int o = 0; o < out; o++) {
                float[] wo = w[o];
                for (int b = b0; b < b1; b++) {
                    float g = dy[b][o];
                    if (g != 0f) axpy(g, wo, dx[b], in);
                }
            }
        }
    }

    /** dW[o] = sum_b dy[b, o] x[b] and db[o] = sum_b dy[b, o], examples in ascending order. */
    private void backwardWeights(int from, int to) {
        int wOff = shape.weightOffset();
        int bOff = shape.biasOffset();
        float[][] xs = x;
        for (int o0 = from; o0 < to; o0 += OUT_BLOCK) {
            int o1 = Math.min(to, o0 + OUT_BLOCK);
            for (int o = o0; o < o1; o++) {
                Arrays.fill(gw[o], 0f);
                grad[bOff + o] = 0f;
            }
            for (int b = 0; b < n; b++) {
                float[] xb = xs[b];
                float[] db = dy[b];
                for (int o = o0; o < o1; o++) {
                    float g = db[o];
                    if (g == 0f) continue;
                    grad[bOff + o] += g;
                    axpy(g, xb, gw[o], in);
                }
            }
            for (int o = o0; o < o1; o++) {
                System.arraycopy(gw[o], 0, grad, wOff + o * in, in);
            }
        }
    }

    /** y[0, n) += a * x[0, n): both rows indexed alike, so C2 vectorises it. */
    private static void axpy(float a, float[] xRow, float[] yRow, int n) {
        for (int k = 0; k < n; k++) {
            yRow[k] += a * xRow[k];
        }
    }
}
