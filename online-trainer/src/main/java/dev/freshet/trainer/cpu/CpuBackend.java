package dev.freshet.trainer.cpu;

import dev.freshet.config.Setting;
import dev.freshet.features.Examples;
import dev.freshet.trainer.DenseParameters;
import dev.freshet.trainer.LayerShape;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelDivergedException;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.StepResult;
import dev.freshet.trainer.TrainerBackend;
import dev.freshet.trainer.host.HostModelState;
import dev.freshet.trainer.model.Dlrm;

import java.util.List;
import java.util.Objects;

/**
 * The CPU backend: plain Java on a fixed pool of threads, the default where no GPU is found and the
 * reference the CUDA backend is tested against.
 *
 * <p>Numerical contract (what another backend must reproduce, within fp32 rounding):
 * <ol>
 *   <li>Forward: {@link Dlrm} — bottom MLP with ReLUs, one embedding row per table and example,
 *       dot interaction over {@code stack([dense] + pooled)} in {@code torch.tril_indices(F, F, -1)}
 *       order, top MLP (no ReLU on the logit); fp32, sums in index order.</li>
 *   <li>Loss: mean over the batch of BCE with logits, in float64; dL/dlogit = (sigmoid(z) - y) / B.</li>
 *   <li>Backward: exact gradients of that loss (ReLU'(0) = 0); a row used by several examples of a
 *       batch gets the sum of their gradients and is updated once.</li>
 *   <li>Updates: {@link EmbeddingOptimizer} for the rows, {@link DenseOptimizer} for the MLPs, all
 *       computed from gradients of the same pre-update weights.</li>
 *   <li>bf16 ({@link dev.freshet.trainer.Precision#BF16}): the MLP GEMM operands are rounded to bf16
 *       (round to nearest even), accumulated in fp32; embeddings, interaction, loss and updates stay fp32.</li>
 * </ol>
 *
 * <p>Bit-for-bit deterministic whatever the thread count: every output element is computed by one
 * thread in a fixed order (see {@link dev.freshet.trainer.model.ParallelFor}). Java's fp32/fp64
 * arithmetic is IEEE-exact and the few transcendental functions ({@code exp}, {@code log1p},
 * {@code pow}) come from {@link StrictMath}, so the same inputs give the same bits on any JVM and CPU. The training step
 * allocates nothing once the workspaces fit the batch (sized for {@code model.batch-size}; a larger
 * batch grows them once).
 *
 * <p>Bad batches are refused before any weight changes ({@link IllegalArgumentException} naming the
 * example, the value and the limit); a NaN or infinite loss or weight throws
 * {@link ModelDivergedException} naming the step (counted from 0 by this backend) and the layer or table.
 */
public final class CpuBackend implements TrainerBackend {
    public static final Setting<Integer> THREADS = Setting.ofInt("trainer.cpu.threads", 0, 0, 4096,
            "Threads of the CPU backend's training step; 0 = one per available core.");
    public static final Setting<Integer> NICE = Setting.ofInt("trainer.cpu.nice", 0, 0, 19,
            "Linux niceness of the CPU backend's training threads (and of the thread that trains): above 0 they yield the cores"
                    + " to ingestion and the feature job on the same machine when both want them, and train on what is left; 0 leaves"
                    + " their priority as it is.");
    public static final List<Setting<?>> SETTINGS = List.of(THREADS, NICE);

    private final ModelConfig config;
    private final HostModelState state;
    private final WorkerPool pool;
    private final int threads;
    private final DenseOptimizer denseOptimizer;
    private final EmbeddingOptimizer embeddingOptimizer;
    private Dlrm model;
    private long steps;
    private boolean closed;

    private CpuBackend(HostModelState state, int threads, int nice) {
        this.config = state.config();
        this.state = state;
        this.threads = threads <= 0 ? Runtime.getRuntime().availableProcessors() : threads;
        this.pool = new WorkerPool(this.threads, "freshet-cpu-trainer", nice);
        this.model = new Dlrm(state, config.batchSize(), pool);
        this.denseOptimizer = new DenseOptimizer(config.denseOptimizer(), state.dense(), pool);
        this.embeddingOptimizer = new EmbeddingOptimizer(config.embeddingOptimizer(), state, pool);
    }

    /** A backend with a freshly initialised model ({@link HostModelState#initialize}); {@code threads <= 0}: one per core. */
    public static CpuBackend create(ModelConfig config, int threads) {
        return create(config, threads, 0);
    }

    /** As {@link #create(ModelConfig, int)}, the training threads at niceness {@code nice} (0..19, {@link #NICE}). */
    public static CpuBackend create(ModelConfig config, int threads, int nice) {
        return new CpuBackend(HostModelState.initialize(Objects.requireNonNull(config, "config")), threads, nice);
    }

    /** A backend that takes ownership of {@code state} (closing the backend closes it). */
    public static CpuBackend create(HostModelState state, int threads) {
        return new CpuBackend(Objects.requireNonNull(state, "state"), threads, 0);
    }

    @Override
    public String description() {
        return "cpu (" + threads + " thread" + (threads == 1 ? "" : "s") + ")";
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    /** Training steps taken by this backend. */
    public long steps() {
        return steps;
    }

    @Override
    public void predict(Examples batch, float[] out) {
        checkOpen();
        BatchCheck.check(config, batch, out, false);
        ensureCapacity(batch.count);
        model.forward(batch.dense, batch.sparse, batch.count);
        for (int b = 0; b < batch.count; b++) {
            out[b] = (float) (1.0 / (1.0 + StrictMath.exp(-(double) model.logit(b))));
        }
    }

    @Override
    public StepResult train(Examples batch, float[] outProbabilities) {
        checkOpen();
        BatchCheck.check(config, batch, outProbabilities, true);
        int n = batch.count;
        if (n == 0) return new StepResult(0, 0);
        ensureCapacity(n);
        model.forward(batch.dense, batch.sparse, n);
        double loss = model.loss(batch.labels, outProbabilities);
        if (!Double.isFinite(loss)) {
            throw new ModelDivergedException("loss is " + loss + " at step " + steps + " (batch of " + n
                    + " examples): the model diverged before this step's update, no weight was changed. "
                    + firstNonFiniteDense(state.dense(), "Weights: "));
        }
        model.backward();
        denseOptimizer.step(model.denseGradient());
        embeddingOptimizer.step(model.sparseArch());
        long step = steps++;
        String dense = firstNonFiniteDense(state.dense(), "");
        if (!dense.isEmpty()) {
            throw new ModelDivergedException("after step " + step + " " + dense + " (loss was " + loss
                    + "). Training must stop; lower model.dense-learning-rate or check the inputs.");
        }
        int t = embeddingOptimizer.firstNonFiniteTable();
        if (t >= 0) {
            throw new ModelDivergedException("after step " + step + " embedding table " + config.tables().get(t).name() + " row "
                    + embeddingOptimizer.nonFiniteRow(t) + " is not finite (loss was " + loss
                    + "). Training must stop; lower model.embedding-learning-rate or check the inputs.");
        }
        return new StepResult(loss, n);
    }

    @Override
    public HostModelState state() {
        checkOpen();
        return state;
    }

    @Override
    public void load(ModelState source) {
        checkOpen();
        state.copyFrom(source);
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        pool.close();
        state.close();
    }

    private void ensureCapacity(int n) {
        if (n > model.capacity()) {
            model = new Dlrm(state, n, pool);
        }
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("the CPU backend is closed");
    }

    /** "layer top.0 weight [3, 17] is NaN", or "" if every MLP parameter is finite. */
    static String firstNonFiniteDense(DenseParameters dense, String prefix) {
        float[] v = dense.values();
        for (LayerShape l : dense.layers()) {
            for (int i = l.weightOffset(); i < l.biasOffset() + l.out(); i++) {
                if (!Float.isFinite(v[i])) {
                    String where = i < l.biasOffset()
                            ? "weight [" + (i - l.weightOffset()) / l.in() + ", " + (i - l.weightOffset()) % l.in() + "]"
                            : "bias [" + (i - l.biasOffset()) + "]";
                    return prefix + "layer " + l.name() + " " + where + " is " + v[i];
                }
            }
        }
        return "";
    }
}
