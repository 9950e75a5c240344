package dev.freshet.trainer.model;

import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.Precision;

/**
 * The DLRM forward and backward pass over one batch (Naumov et al. 2019, "Deep Learning
 * Recommendation Model for Personalization and Recommendation Systems"), decomposed as TorchRec's
 * {@code DLRM}: {@link DenseArch}, {@link SparseArch}, {@link InteractionArch}, {@link OverArch}, and
 * binary cross-entropy with logits, averaged over the batch. It reads weights from a
 * {@link ModelState} and computes gradients; applying them is the backend's optimizer's job.
 *
 * <p>One instance owns the workspaces for batches of up to {@link #capacity()} examples and is not
 * thread-safe; its arches spread each pass over the given {@link ParallelFor}.
 */
public final class Dlrm {
    private final ModelConfig config;
    private final int capacity;
    private final DenseArch denseArch;
    private final SparseArch sparseArch;
    private final InteractionArch interactionArch;
    private final OverArch overArch;
    private final float[] denseGradient;
    private final float[][] logitGradient;
    private int n;

    public Dlrm(ModelState state, int capacity, ParallelFor pool) {
        this.config = state.config();
        this.capacity = capacity;
        boolean bf16 = config.precision() == Precision.BF16;
        this.denseGradient = new float[state.dense().size()];
        this.logitGradient = new float[capacity][1];
        this.denseArch = new DenseArch(state.dense(), denseGradient, capacity, bf16, pool);
        this.sparseArch = new SparseArch(state.tables(), config.embeddingDim(), capacity, pool);
        this.interactionArch = new InteractionArch(config.numTables(), config.embeddingDim(), capacity, pool);
        this.overArch = new OverArch(state.dense(), denseGradient, capacity, bf16, pool);
    }

    public int capacity() {
        return capacity;
    }

    public ModelConfig config() {
        return config;
    }

    /**
     * dense [n, numDense], sparse [n, T] (rows already checked against the tables) -> {@link #logit} [n].
     */
    public void forward(float[] dense, int[] sparse, int count) {
        if (count > capacity) {
            throw new IllegalArgumentException("batch of " + count + " examples exceeds this model's workspace of " + capacity);
        }
        this.n = count;
        denseArch.forward(dense, count);                                                 // [B, numDense] -> [B, D]
        sparseArch.forward(sparse, count);                                               // [B, T] -> [B, T, D]
        interactionArch.forward(denseArch.output(), sparseArch.output(), count);         // -> [B, D + F(F-1)/2]
        overArch.forward(interactionArch.output(), count);                               // -> [B]
    }

    /** The logit of example {@code b} of the last forward pass. */
    public float logit(int b) {
        return overArch.logits()[b][0];
    }

    /**
     * Mean BCE-with-logits of the last forward's logits against {@code labels} (0/1), accumulated in
     * float64 in example order ({@link StrictMath}, so the same bits on every JVM and CPU); writes sigmoid(logit) to {@code probabilities[0, n)} and keeps
     * dL/d(logit) = (sigmoid(logit) - label) / n for {@link #backward()}.
     */
    public double loss(byte[] labels, float[] probabilities) {
        float[][] z = overArch.logits();
        double sum = 0;
        for (int b = 0; b < n; b++) {
            double logit = z[b][0];
            double y = labels[b];
            sum += Math.max(logit, 0) - logit * y + StrictMath.log1p(StrictMath.exp(-Math.abs(logit)));
            double p = 1.0 / (1.0 + StrictMath.exp(-logit));
            if (probabilities != null) probabilities[b] = (float) p;
            logitGradient[b][0] = (float) ((p - y) / n);
        }
        return n == 0 ? 0 : sum / n;
    }

    /**
     * Back-propagates the last {@link #loss}: fills {@link #denseGradient()} and the sparse arch's
     * per-row gradients ({@link #sparseArch()}).
     */
    public void backward() {
        overArch.backward(logitGradient);
        interactionArch.backward(overArch.inputGradient(), n);
        denseArch.backward(interactionArch.denseGradient());
        sparseArch.backward(interactionArch.pooledGradient());
    }

    /** dL/d(every MLP weight and bias), in {@link dev.freshet.trainer.DenseParameters} layout. */
    public float[] denseGradient() {
        return denseGradient;
    }

    public SparseArch sparseArch() {
        return sparseArch;
    }

    public DenseArch denseArch() {
        return denseArch;
    }

    public InteractionArch interactionArch() {
        return interactionArch;
    }

    public OverArch overArch() {
        return overArch;
    }

    /** Examples in the last forward pass. */
    public int count() {
        return n;
    }
}
