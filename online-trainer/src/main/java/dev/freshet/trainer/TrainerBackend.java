package dev.freshet.trainer;

import dev.freshet.features.Examples;

/**
 * Where the DLRM math runs: the CPU (plain Java, the reference and the default where no GPU is
 * found) or CUDA. Both hold the model of {@link #config()} and must give the same numbers for the
 * same inputs (fp32 within 1e-4 relative, bf16 within 1e-2). Owns its native resources: close() is
 * idempotent and the backend refuses use after it.
 */
public interface TrainerBackend extends AutoCloseable {

    /** For start-up logs: "cpu (8 threads)", "cuda (NVIDIA H200, 139 GiB, cache 2% of rows)". */
    String description();

    ModelConfig config();

    /**
     * Scores {@code batch} with the current weights, writing probabilities to {@code out[0, batch.count)};
     * weights are unchanged.
     */
    void predict(Examples batch, float[] out);

    /**
     * One optimizer step on all {@code batch.count} examples: forward, BCE loss, backward, updates.
     * Writes the forward pass's probabilities (i.e. before this step's update: progressive validation)
     * to {@code outProbabilities[0, batch.count)}.
     *
     * @throws ModelDivergedException if the loss or an updated weight is NaN or infinite; the step's
     *         updates may be partly applied, so the caller must stop and not publish
     */
    StepResult train(Examples batch, float[] outProbabilities);

    /**
     * Lookahead hint: {@code next} is the batch that the {@link #train} call after the coming one will
     * receive, so a backend may start preparing it (e.g. copy the embedding rows it misses into a GPU
     * cache) while the coming batch trains. The caller keeps {@code next}'s arrays unchanged until it has
     * trained. A hint only: it must not change any result, and the default ignores it.
     */
    default void prefetch(Examples next) {
    }

    /**
     * Access counts of table {@code table}'s rows seen elsewhere (the feature job's heavy hitters on
     * feature-stats), for a backend that keeps only some rows close (a GPU embedding cache): it may admit
     * and keep rows by them. Rows outside the table are ignored. A hint only: it must not change any
     * result, and the default ignores it.
     */
    default void frequencyHints(int table, long[] rows, long[] counts) {
    }

    /** Whether {@link #frequencyHints} does anything, so that a caller may skip reading them. */
    default boolean usesFrequencyHints() {
        return false;
    }

    /**
     * The model's weights and optimizer state in host memory, current as of the last step (a GPU
     * backend copies back its dense weights and writes back dirty cached rows first). The returned
     * state is live, owned by the backend: callers read it between steps, never during one.
     */
    ModelState state();

    /** Replaces all weights and optimizer state with {@code source}'s (same config), e.g. after a retrain or on resume. */
    void load(ModelState source);

    @Override
    void close();
}
