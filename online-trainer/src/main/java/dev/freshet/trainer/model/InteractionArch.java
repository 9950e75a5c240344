package dev.freshet.trainer.model;

/**
 * DLRM's dot interaction (Naumov et al. 2019, section 2.1.2): the F = T + 1 vectors of an example,
 * {@code V = stack([dense] + pooled)} [F, D], interact by pairwise dot products
 * {@code z[p] = V[i] . V[j]} over the strictly lower triangle, pairs ordered exactly as
 * {@code torch.tril_indices(F, F, offset=-1)}: (1,0), (2,0), (2,1), (3,0), ... The output is
 * {@code [dense, z]}: dense [B, D], pooled [B, T, D] -> [B, D + F(F-1)/2]. No weights.
 */
public final class InteractionArch {
    private final int numTables;
    private final int dim;
    private final int width;
    private final ParallelFor pool;
    private final float[] out;
    private final float[] denseGradient;
    private final float[] pooledGradient;

    private float[] dense;
    private float[] pooled;
    private float[] outGradient;

    private final ParallelFor.RangeTask forwardTask = this::forwardRows;
    private final ParallelFor.RangeTask backwardTask = this::backwardRows;

    public InteractionArch(int numTables, int dim, int capacity, ParallelFor pool) {
        this.numTables = numTables;
        this.dim = dim;
        int f = numTables + 1;
        this.width = dim + f * (f - 1) / 2;
        this.pool = pool;
        this.out = new float[capacity * width];
        this.denseGradient = new float[capacity * dim];
        this.pooledGradient = new float[capacity * numTables * dim];
    }

    /** D + F(F-1)/2. */
    public int outputWidth() {
        return width;
    }

    /** dense [n, D], pooled [n, T, D] -> {@link #output()} [n, D + F(F-1)/2]. Inputs must stay unchanged until backward. */
    public void forward(float[] dense, float[] pooled, int n) {
        this.dense = dense;
        this.pooled = pooled;
        pool.run(n, forwardTask);
    }

    public float[] output() {
        return out;
    }

    /** dL/d(output) [n, D + F(F-1)/2] -> {@link #denseGradient()} [n, D] and {@link #pooledGradient()} [n, T, D]. */
    public void backward(float[] outputGradient, int n) {
        this.outGradient = outputGradient;
        pool.run(n, backwardTask);
    }

    public float[] denseGradient() {
        return denseGradient;
    }

    public float[] pooledGradient() {
        return pooledGradient;
    }

    private void forwardRows(int from, int to) {
        int f = numTables + 1;
        for (int b = from; b < to; b++) {
            int o = b * width;
            System.arraycopy(dense, b * dim, out, o, dim);
            int p = o + dim;
            for (int i = 1; i < f; i++) {
                float[] vi = vector(i, dense, pooled);
                int oi = offset(b, i);
                for (int j = 0; j < i; j++) {
                    float[] vj = vector(j, dense, pooled);
                    int oj = offset(b, j);
                    float s = 0f;
                    for (int k = 0; k < dim; k++) {
                        s += vi[oi + k] * vj[oj + k];
                    }
                    out[p++] = s;
                }
            }
        }
    }

    private void backwardRows(int from, int to) {
        int f = numTables + 1;
        for (int b = from; b < to; b++) {
            int o = b * width;
            System.arraycopy(outGradient, o, denseGradient, b * dim, dim);
            java.util.Arrays.fill(pooledGradient, b * numTables * dim, (b + 1) * numTables * dim, 0f);
            int p = o + dim;
            for (int i = 1; i < f; i++) {
                float[] vi = vector(i, dense, pooled);
                float[] gi = vector(i, denseGradient, pooledGradient);
                int oi = offset(b, i);
                for (int j = 0; j < i; j++) {
                    float g = outGradient[p++];
                    if (g == 0f) continue;
                    float[] vj = vector(j, dense, pooled);
                    float[] gj = vector(j, denseGradient, pooledGradient);
                    int oj = offset(b, j);
                    for (int k = 0; k < dim; k++) {
                        gi[oi + k] += g * vj[oj + k];
                        gj[oj + k] += g * vi[oi + k];
                    }
                }
            }
        }
    }

    /** Vector 0 is the dense arch's output, vector k > 0 table k - 1's pooled row. */
    private static float[] vector(int index, float[] denseArray, float[] pooledArray) {
        return index == 0 ? denseArray : pooledArray;
    }

    private int offset(int b, int index) {
        return index == 0 ? b * dim : (b * numTables + index - 1) * dim;
    }
}
