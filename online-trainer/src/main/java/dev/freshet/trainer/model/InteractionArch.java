package dev.freshet.trainer.model;

import java.util.Arrays;

/**
 * DLRM's dot interaction (Naumov et al. 2019, section 2.1.2): the F = T + 1 vectors of an example,
 * {@code V = stack([dense] + pooled)} [F, D], interact by pairwise dot products
 * {@code z[p] = V[i] . V[j]} over the strictly lower triangle, pairs ordered exactly as
 * {@code torch.tril_indices(F, F, offset=-1)}: (1,0), (2,0), (2,1), (3,0), ... The output is
 * {@code [dense, z]}: dense [B, D], pooled [B, T, D] -> [B, D + F(F-1)/2]. No weights. Dot products
 * sum over the D components in order, in fp32.
 */
public final class InteractionArch {
    private final int numTables;
    private final int dim;
    private final int width;
    private final ParallelFor pool;
    private final float[][] out;
    private final float[][] denseGradient;
    private final float[][] pooledGradient;

    private float[][] dense;
    private float[][] pooled;
    private float[][] outGradient;

    private final ParallelFor.RangeTask forwardTask = this::forwardRows;
    private final ParallelFor.RangeTask backwardTask = this::backwardRows;

    public InteractionArch(int numTables, int dim, int capacity, ParallelFor pool) {
        this.numTables = numTables;
        this.dim = dim;
        int f = numTables + 1;
        this.width = dim + f * (f - 1) / 2;
        this.pool = pool;
        this.out = new float[capacity][width];
        this.denseGradient = new float[capacity][dim];
        this.pooledGradient = new float[capacity * numTables][dim];
    }

    /** D + F(F-1)/2. */
    public int outputWidth() {
        return width;
    }

    /**
     * dense [n][D], pooled [n, T, D] as n * T rows (example b's table t at b * T + t) -> {@link #output()}
     * [n][D + F(F-1)/2]. Inputs must stay unchanged until backward.
     */
    public void forward(float[][] denseRows, float[][] pooledRows, int n) {
        this.dense = denseRows;
        this.pooled = pooledRows;
        pool.run(n, forwardTask);
    }

    /** [B][D + F(F-1)/2]. */
    public float[][] output() {
        return out;
    }

    /** dL/d(output) [n][D + F(F-1)/2] -> {@link #denseGradient()} [n][D] and {@link #pooledGradient()} [n, T, D]. */
    public void backward(float[][] outputGradient, int n) {
        this.outGradient = outputGradient;
        pool.run(n, backwardTask);
    }

    public float[][] denseGradient() {
        return denseGradient;
    }

    /** [B, T, D] as B * T rows, like the pooled input. */
    public float[][] pooledGradient() {
        return pooledGradient;
    }

    /** Vector {@code i} of example {@code b}: 0 is the dense arch's output, i > 0 table i - 1's pooled row. */
    private float[] vector(float[][] denseRows, float[][] pooledRows, int b, int i) {
        return i == 0 ? denseRows[b] : pooledRows[b * numTables + i - 1];
    }

    private void forwardRows(int from, int to) {
        int f = numTables + 1;
        for (int b = from; b < to; b++) {
            float[] o = out[b];
            System.arraycopy(dense[b], 0, o, 0, dim);
            int p = dim;
            for (int i = 1; i < f; i++) {
                float[] vi = vector(dense, pooled, b, i);
                for (int j = 0; j < i; j++) {
                    float[] vj = vector(dense, pooled, b, j);
                    float s = 0f;
                    for (int k = 0; k < dim; k++) {
                        s += vi[k] * vj[k];
                    }
                    o[p++] = s;
                }
            }
        }
    }

    /** dV[i] += dz * V[j] and dV[j] += dz * V[i] for each pair in order: row axpys, vectorised by C2. */
    private void backwardRows(int from, int to) {
        int f = numTables + 1;
        for (int b = from; b < to; b++) {
            float[] g = outGradient[b];
            System.arraycopy(g, 0, denseGradient[b], 0, dim);
            for (int t = 0; t < numTables; t++) Arrays.fill(pooledGradient[b * numTables + t], 0f);
            int p = dim;
            for (int i = 1; i < f; i++) {
                float[] vi = vector(dense, pooled, b, i);
                float[] gi = vector(denseGradient, pooledGradient, b, i);
                for (int j = 0; j < i; j++) {
                    float gz = g[p++];
                    if (gz == 0f) continue;
                    float[] vj = vector(dense, pooled, b, j);
                    float[] gj = vector(denseGradient, pooledGradient, b, j);
                    for (int k = 0; k < dim; k++) {
                        gi[k] += gz * vj[k];
                    }
                    for (int k = 0; k < dim; k++) {
                        gj[k] += gz * vi[k];
                    }
                }
            }
        }
    }
}
