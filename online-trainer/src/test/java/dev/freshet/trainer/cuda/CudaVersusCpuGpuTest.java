package dev.freshet.trainer.cuda;

import dev.freshet.features.Examples;
import dev.freshet.trainer.DenseParameters;
import dev.freshet.trainer.EmbeddingTable;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.OptimizerKind;
import dev.freshet.trainer.OptimizerSpec;
import dev.freshet.trainer.Precision;
import dev.freshet.trainer.StepResult;
import dev.freshet.trainer.TableSpec;
import dev.freshet.trainer.cpu.CpuBackend;
import dev.freshet.trainer.cuda.CudaOptions.CacheTransfer;
import dev.freshet.trainer.cuda.internal.CudaContext;
import dev.freshet.trainer.host.HostModelState;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA backend against the CPU backend (the reference) on the same fresh random inputs: every
 * probability and loss of every step, and every dense weight, optimizer state, embedding row and row
 * accumulator after 1, 10 and 100 steps, within fp32 1e-4 / bf16 1e-2 relative error
 * (||cuda - cpu|| / ||cpu|| per tensor). The GPU cache's tests run with each of its transfer modes. Embedding tables are compared over the rows the CPU changed,
 * so that untouched rows (equal by construction) do not dilute the error.
 *
 * <p>The optimizers are conditioned: Adagrad accumulators start at 0.1 (TensorFlow's default) and Adam's
 * eps is 1e-3. With an accumulator of 0 (or a tiny eps) the first step is lr * sign(g), which turns
 * rounding-level differences of near-zero gradients (the GPU sums with atomics, in no fixed order) into
 * full steps; the H200 runs showed such a flip push an fp32 comparison to 1.6e-4 after 96 steps with every
 * row on the GPU, so that is the optimizer's conditioning, not a backend difference.
 */
@Tag("gpu")
class CudaVersusCpuGpuTest {
    private static final int[] CHECKPOINTS = {1, 10, 100};

    private static CudaContext.Probe probe;

    @BeforeAll
    static void probeGpu() {
        probe = CudaBackend.probe(0);
        System.out.println(probe.available() ? "CUDA device: " + probe.deviceName() : "GPU tests skipped: no CUDA GPU here (" + probe.reason() + ")");
    }

    /** Per test, so that every test reports itself skipped, with the reason. */
    @BeforeEach
    void requireGpu() {
        Assumptions.assumeTrue(probe.available(), "skipped: no CUDA GPU here (" + probe.reason() + ")");
    }

    /** 4 tables with repeats within a batch, dim 16, bottom 32-16, top 64-32-1, batch 128. */
    static ModelConfig smallConfig(OptimizerKind emb, OptimizerKind dense, Precision precision, long seed) {
        return new ModelConfig(List.of(new TableSpec("A", 1000, 16), new TableSpec("B", 37, 16), new TableSpec("C", 20000, 16),
                new TableSpec("D", 5, 16)), 5, 16, List.of(32, 16), List.of(64, 32, 1), conditioned(emb, 0.05f),
                conditioned(dense, 0.01f), 128, seed, precision);
    }

    static OptimizerSpec conditioned(OptimizerKind kind, float lr) {
        return switch (kind) {
            case SGD -> OptimizerSpec.of(kind, lr);
            case ADAGRAD, ROWWISE_ADAGRAD -> new OptimizerSpec(kind, lr, 1e-8f, 0.9f, 0.999f, 0.1f);
            case ADAM -> new OptimizerSpec(kind, lr, 1e-3f, 0.9f, 0.999f, 0f);
        };
    }

    /** Dense N(0,1)-ish, rows skewed (squared uniform, so hot rows repeat), labels Bernoulli(0.3). */
    static Examples batch(ModelConfig config, SplittableRandom r, int hotOffset, int window) {
        int n = config.batchSize();
        Examples e = new Examples(n, config.numDense(), config.numTables());
        for (int b = 0; b < n; b++) {
            for (int i = 0; i < config.numDense(); i++) e.dense[b * config.numDense() + i] = (float) (r.nextDouble() * 2 - 1);
            for (int t = 0; t < config.numTables(); t++) {
                long rows = config.tables().get(t).rows();
                double u = r.nextDouble();
                long span = Math.min(rows, window);
                long row = (hotOffset + (long) (u * u * span)) % rows;
                e.sparse[b * config.numTables() + t] = (int) row;
            }
            e.labels[b] = (byte) (r.nextDouble() < 0.3 ? 1 : 0);
        }
        e.count = n;
        return e;
    }

    @Test
    void fp32RowwiseAdagradAdagrad() {
        compare(smallConfig(OptimizerKind.ROWWISE_ADAGRAD, OptimizerKind.ADAGRAD, Precision.FP32, 11), CudaOptions.defaults(),
                1e-4, false);
    }

    @Test
    void fp32SgdSgd() {
        compare(smallConfig(OptimizerKind.SGD, OptimizerKind.SGD, Precision.FP32, 12), CudaOptions.defaults(), 1e-4, false);
    }

    @Test
    void fp32RowwiseAdagradAdam() {
        compare(smallConfig(OptimizerKind.ROWWISE_ADAGRAD, OptimizerKind.ADAM, Precision.FP32, 13), CudaOptions.defaults(),
                1e-4, false);
    }

    @Test
    void fp32WithoutGraphs() {
        compare(smallConfig(OptimizerKind.ROWWISE_ADAGRAD, OptimizerKind.ADAGRAD, Precision.FP32, 14),
                CudaOptions.defaults().withGraphs(false), 1e-4, false);
    }

    @Test
    void bf16RowwiseAdagradAdagrad() {
        compare(smallConfig(OptimizerKind.ROWWISE_ADAGRAD, OptimizerKind.ADAGRAD, Precision.BF16, 15), CudaOptions.defaults(),
                1e-2, false);
    }

    /** bf16 with dense SGD: no per-element normalisation that turns rounding noise near zero into full steps. */
    @Test
    void bf16RowwiseAdagradSgd() {
        compare(smallConfig(OptimizerKind.ROWWISE_ADAGRAD, OptimizerKind.SGD, Precision.BF16, 18), CudaOptions.defaults(),
                1e-2, false);
    }

    /**
     * Criteo's shape with small tables: 26 tables of 128-float rows (the warp-per-example interaction
     * kernels), a 479-wide top MLP input (R and the first top weight padded to 480 on the GPU), batch 64.
     */
    static ModelConfig wideRows(Precision precision, long seed) {
        List<TableSpec> tables = new ArrayList<>();
        for (int t = 0; t < 26; t++) tables.add(new TableSpec("T" + t, 3 + 97L * t, 128));
        return new ModelConfig(tables, 13, 128, List.of(64, 128), List.of(96, 32, 1),
                conditioned(OptimizerKind.ROWWISE_ADAGRAD, 0.05f), conditioned(OptimizerKind.ADAGRAD, 0.01f), 64, seed, precision);
    }

    @Test
    void fp32WideRowsManyTables() {
        compare(wideRows(Precision.FP32, 21), CudaOptions.defaults(), 1e-4, false);
    }

    @Test
    void bf16WideRowsManyTables() {
        compare(wideRows(Precision.BF16, 22), CudaOptions.defaults(), 1e-2, false);
    }

    static ModelConfig largeTables(OptimizerKind dense, Precision precision, long seed) {
        return new ModelConfig(List.of(new TableSpec("A", 200_000, 16), new TableSpec("B", 100_000, 16),
                new TableSpec("C", 50_000, 16)), 5, 16, List.of(32, 16), List.of(64, 32, 1),
                conditioned(OptimizerKind.ROWWISE_ADAGRAD, 0.05f), conditioned(dense, 0.01f), 64, seed, precision);
    }

    private static CudaOptions cache(CacheTransfer transfer) {
        return CudaOptions.defaults().withCacheTransfer(transfer);
    }

    /** GPU cache of 1% of the rows, a hot set that moves every 10 steps, lookahead prefetch of the next batch. */
    @ParameterizedTest
    @EnumSource(value = CacheTransfer.class, names = {"BUS", "COPY"})
    void fp32CacheOnePercentMovingHotSet(CacheTransfer transfer) {
        compare(largeTables(OptimizerKind.ADAGRAD, Precision.FP32, 16), cache(transfer).withCacheFraction(0.01), 1e-4, true);
    }

    /** The same with the swaps run on the training stream (no overlap with the step). */
    @ParameterizedTest
    @EnumSource(value = CacheTransfer.class, names = {"BUS", "COPY"})
    void fp32CacheOnePercentMovingHotSetNoOverlap(CacheTransfer transfer) {
        compare(largeTables(OptimizerKind.ADAGRAD, Precision.FP32, 16),
                cache(transfer).withCacheFraction(0.01).withOverlapSwaps(false), 1e-4, true);
    }

    /** The same with dense SGD. */
    @ParameterizedTest
    @EnumSource(value = CacheTransfer.class, names = {"BUS", "COPY"})
    void fp32CacheOnePercentMovingHotSetDenseSgd(CacheTransfer transfer) {
        compare(largeTables(OptimizerKind.SGD, Precision.FP32, 16), cache(transfer).withCacheFraction(0.01), 1e-4, true);
    }

    /**
     * A cache barely larger than two batches' lookups (192 each): nearly every plan evicts, and the plan of
     * the next batch is queued while the current one trains. (It passed on the H200 also with a backend that
     * let that plan evict the batch in flight, notes/run20: the race it guards against did not show in 100
     * steps; GpuCacheDirectoryGpuTest checks the rule itself.) Rows evicted by one plan and loaded again by the
     * next are common here; CacheTransferGpuTest checks that case on its own.
     */
    @ParameterizedTest
    @EnumSource(value = CacheTransfer.class, names = {"BUS", "COPY"})
    void fp32CacheUnderEvictionPressure(CacheTransfer transfer) {
        compare(largeTables(OptimizerKind.ADAGRAD, Precision.FP32, 17), cache(transfer).withCacheRows(420), 1e-4, true);
    }

    /** The model and stream of the cache test with every row on the GPU: what the cache must not change. */
    @Test
    void fp32LargeTablesMovingHotSetNoCache() {
        compare(largeTables(OptimizerKind.ADAGRAD, Precision.FP32, 16), CudaOptions.defaults(), 1e-4, true);
    }

    @ParameterizedTest
    @EnumSource(value = CacheTransfer.class, names = {"BUS", "COPY"})
    void bf16CacheOnePercentMovingHotSet(CacheTransfer transfer) {
        ModelConfig config = new ModelConfig(List.of(new TableSpec("A", 200_000, 16), new TableSpec("B", 100_000, 16),
                new TableSpec("C", 50_000, 16)), 5, 16, List.of(32, 16), List.of(64, 32, 1),
                conditioned(OptimizerKind.SGD, 0.05f), conditioned(OptimizerKind.SGD, 0.01f), 64, 17,
                Precision.BF16);
        compare(config, cache(transfer).withCacheFraction(0.01), 1e-2, true);
    }

    /**
     * A batch named ahead is checked only once the current step is queued: a bad one (a row out of range)
     * is dropped from the lookahead without disturbing the step before it, and fails when it is trained;
     * the backend then trains on, still equal to the CPU backend.
     */
    @ParameterizedTest
    @EnumSource(value = CacheTransfer.class, names = {"BUS", "COPY"})
    void aBadBatchNamedAheadFailsWhenItTrainsAndNothingElse(CacheTransfer transfer) {
        ModelConfig config = largeTables(OptimizerKind.ADAGRAD, Precision.FP32, 18);
        SplittableRandom random = new SplittableRandom(System.nanoTime());
        Examples first = batch(config, random, 0, 4000), after = batch(config, random, 0, 4000);
        Examples bad = batch(config, random, 0, 4000);
        int at = random.nextInt(bad.count * config.numTables());
        bad.sparse[at] = (int) config.tables().get(at % config.numTables()).rows(); // one past the last row
        try (HostModelState initial = HostModelState.initialize(config);
             CpuBackend cpu = CpuBackend.create(HostModelState.copyOf(initial), 2);
             CudaBackend cuda = CudaBackend.create(config, cache(transfer).withCacheFraction(0.01), HostModelState.copyOf(initial))) {
            float[] pCpu = new float[config.batchSize()], pGpu = new float[config.batchSize()];
            cuda.prefetch(bad);
            assertEquals(cpu.train(first, pCpu).loss(), cuda.train(first, pGpu).loss(), 1e-4);
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> cuda.train(bad, pGpu));
            assertTrue(e.getMessage().contains("out of range for table " + config.tables().get(at % config.numTables()).name()),
                    e.getMessage());
            cuda.prefetch(first);
            assertEquals(cpu.train(after, pCpu).loss(), cuda.train(after, pGpu).loss(), 1e-4);
            assertTrue(relErr(pGpu, pCpu, config.batchSize()) <= 1e-4, "probabilities after the bad batch");
            assertEquals(cpu.train(first, pCpu).loss(), cuda.train(first, pGpu).loss(), 1e-4);
            compareStates(cpu.state(), cuda.state(), initial, 1e-4, "after a bad batch named ahead");
        }
    }

    /**
     * A batch named ahead has its inputs uploaded while the step before it trains. If it is then dropped
     * (not trained next) and its arrays come back with other contents, the new contents train, not the
     * staged copy: without the cache and with it, in each transfer mode.
     */
    @Test
    void aBatchRefilledAfterItsLookaheadWasDroppedTrainsItsNewContents() {
        for (CudaOptions options : withAndWithoutCache()) {
            ModelConfig config = largeTables(OptimizerKind.ADAGRAD, Precision.FP32, 19);
            SplittableRandom random = new SplittableRandom(System.nanoTime());
            Examples a = batch(config, random, 0, 4000), b = batch(config, random, 0, 4000), c = batch(config, random, 0, 4000);
            Examples reused = batch(config, random, 0, 4000);
            try (HostModelState initial = HostModelState.initialize(config);
                 CpuBackend cpu = CpuBackend.create(HostModelState.copyOf(initial), 2);
                 CudaBackend cuda = CudaBackend.create(config, options, HostModelState.copyOf(initial))) {
                float[] pCpu = new float[config.batchSize()], pGpu = new float[config.batchSize()];
                cuda.prefetch(reused);
                assertEquals(cpu.train(a, pCpu).loss(), cuda.train(a, pGpu).loss(), 1e-4); // stages reused's inputs
                assertEquals(cpu.train(b, pCpu).loss(), cuda.train(b, pGpu).loss(), 1e-4); // reused not next: dropped
                Examples refill = batch(config, random, 5000, 4000);
                System.arraycopy(refill.dense, 0, reused.dense, 0, refill.dense.length);
                System.arraycopy(refill.sparse, 0, reused.sparse, 0, refill.sparse.length);
                System.arraycopy(refill.labels, 0, reused.labels, 0, refill.labels.length);
                cuda.prefetch(reused);
                assertEquals(cpu.train(c, pCpu).loss(), cuda.train(c, pGpu).loss(), 1e-4);
                double want = cpu.train(reused, pCpu).loss();
                double got = cuda.train(reused, pGpu).loss();
                assertEquals(want, got, 1e-4 * Math.abs(want), options.cached() ? "with the cache, " + options.cacheTransfer() : "all rows on the GPU");
                assertTrue(relErr(pGpu, pCpu, config.batchSize()) <= 1e-4, "probabilities of the refilled batch");
            }
        }
    }

    /**
     * A step queues the copy of the next named batch's inputs behind itself; a prediction before that batch trains
     * overwrites them, and the batch must still train on its own inputs: without the cache and with it, in each
     * transfer mode.
     */
    @Test
    void aPredictionBetweenStepsLeavesTheNextNamedBatchItsInputs() {
        for (CudaOptions options : withAndWithoutCache()) {
            ModelConfig config = largeTables(OptimizerKind.ADAGRAD, Precision.FP32, 20);
            SplittableRandom random = new SplittableRandom(System.nanoTime());
            Examples a = batch(config, random, 0, 4000), b = batch(config, random, 0, 4000), c = batch(config, random, 9000, 4000);
            try (HostModelState initial = HostModelState.initialize(config);
                 CpuBackend cpu = CpuBackend.create(HostModelState.copyOf(initial), 2);
                 CudaBackend cuda = CudaBackend.create(config, options, HostModelState.copyOf(initial))) {
                String what = options.cached() ? "with the cache, " + options.cacheTransfer() : "all rows on the GPU";
                float[] pCpu = new float[config.batchSize()], pGpu = new float[config.batchSize()];
                cuda.prefetch(b);
                assertEquals(cpu.train(a, pCpu).loss(), cuda.train(a, pGpu).loss(), 1e-4, what); // queues b's inputs
                cpu.predict(c, pCpu);
                cuda.predict(c, pGpu);
                assertTrue(relErr(pGpu, pCpu, config.batchSize()) <= 1e-4, what + ": probabilities of the prediction");
                double want = cpu.train(b, pCpu).loss();
                assertEquals(want, cuda.train(b, pGpu).loss(), 1e-4 * Math.abs(want), what + ": the named batch after a prediction");
                assertTrue(relErr(pGpu, pCpu, config.batchSize()) <= 1e-4, what + ": probabilities of the named batch");
                assertEquals(options.cached() ? 1 : 0, cuda.cachePlansOnDemand(), what + ": batches planned on demand");
            }
        }
    }

    /** All rows on the GPU, then a cache of 1% of them in each transfer mode. */
    private static List<CudaOptions> withAndWithoutCache() {
        return List.of(CudaOptions.defaults(), cache(CacheTransfer.BUS).withCacheFraction(0.01),
                cache(CacheTransfer.COPY).withCacheFraction(0.01));
    }

    private void compare(ModelConfig config, CudaOptions options, double tolerance, boolean movingHotSet) {
        SplittableRandom random = new SplittableRandom(config.seed() * 7919 + 1);
        List<Examples> batches = new ArrayList<>();
        for (int s = 0; s <= CHECKPOINTS[CHECKPOINTS.length - 1]; s++) {
            int hot = movingHotSet ? (s / 10) * 5000 : 0;
            batches.add(batch(config, random, hot, movingHotSet ? 4000 : Integer.MAX_VALUE));
        }
        try (HostModelState initial = HostModelState.initialize(config);
             CpuBackend cpu = CpuBackend.create(HostModelState.copyOf(initial), 2);
             CudaBackend cuda = CudaBackend.create(config, options, HostModelState.copyOf(initial))) {
            System.out.println(cuda.description());
            float[] pCpu = new float[config.batchSize()];
            float[] pGpu = new float[config.batchSize()];
            int next = 0;
            double worstProb = 0;
            for (int step = 1; step <= CHECKPOINTS[CHECKPOINTS.length - 1]; step++) {
                Examples b = batches.get(step - 1);
                cuda.prefetch(batches.get(step));
                StepResult rg = cuda.train(b, pGpu);
                StepResult rc = cpu.train(b, pCpu);
                double probErr = relErr(pGpu, pCpu, config.batchSize());
                worstProb = Math.max(worstProb, probErr);
                assertTrue(probErr <= tolerance, "step " + step + ": probabilities differ, relative error " + probErr);
                assertEquals(rc.loss(), rg.loss(), tolerance * Math.abs(rc.loss()) + 1e-7, "step " + step + " loss");
                if (step == CHECKPOINTS[next]) {
                    next++;
                    double worst = compareStates(cpu.state(), cuda.state(), initial, tolerance, "after " + step + " steps");
                    System.out.printf(Locale.ROOT, "  after %3d steps: loss cpu %.6f cuda %.6f, worst prob rel err so far %.2e, worst weight rel err %.2e%s%n",
                            step, rc.loss(), rg.loss(), worstProb, worst,
                            Double.isNaN(cuda.cacheHitRate()) ? "" : String.format(Locale.ROOT, ", cache hit rate %.3f", cuda.cacheHitRate()));
                }
            }
            if (options.cached()) {
                // each step names the next batch: only the first step's batch, named by nobody, is planned when it trains
                assertEquals(options.overlapSwaps() ? 1 : CHECKPOINTS[CHECKPOINTS.length - 1], cuda.cachePlansOnDemand(),
                        "training batches planned on demand instead of ahead");
            }
        }
    }

    /** Compares every tensor; returns the worst relative error. */
    private static double compareStates(ModelState cpu, ModelState gpu, ModelState initial, double tolerance, String when) {
        double worst = 0;
        DenseParameters dc = cpu.dense(), dg = gpu.dense();
        worst = Math.max(worst, check("dense weights " + when, dg.values(), dc.values(), tolerance));
        if (dc.slot1().length > 0) worst = Math.max(worst, check("dense optimizer state 1 " + when, dg.slot1(), dc.slot1(), tolerance));
        if (dc.slot2().length > 0) worst = Math.max(worst, check("dense optimizer state 2 " + when, dg.slot2(), dc.slot2(), tolerance));
        int dim = cpu.config().embeddingDim();
        float[] a = new float[dim], b = new float[dim], c = new float[dim];
        for (int t = 0; t < cpu.tables().size(); t++) {
            EmbeddingTable tc = cpu.tables().get(t), tg = gpu.tables().get(t), t0 = initial.tables().get(t);
            double diff = 0, norm = 0, accDiff = 0, accNorm = 0;
            int changed = 0;
            for (int r = 0; r < tc.spec().rows(); r++) {
                tc.readRow(r, a, 0);
                tg.readRow(r, b, 0);
                t0.readRow(r, c, 0);
                boolean moved = tc.accumulator(r) != t0.accumulator(r);
                for (int k = 0; k < dim; k++) moved |= a[k] != c[k];
                if (!moved) {
                    // untouched on the CPU: the GPU must not have changed it either
                    for (int k = 0; k < dim; k++) {
                        if (b[k] != c[k]) {
                            throw new AssertionError("table " + tc.spec().name() + " row " + r + " changed on the GPU only " + when);
                        }
                    }
                    continue;
                }
                changed++;
                for (int k = 0; k < dim; k++) {
                    diff += (double) (a[k] - b[k]) * (a[k] - b[k]);
                    norm += (double) a[k] * a[k];
                }
                double da = tc.accumulator(r) - tg.accumulator(r);
                accDiff += da * da;
                accNorm += (double) tc.accumulator(r) * tc.accumulator(r);
            }
            double e = norm == 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
            double ea = accNorm == 0 ? Math.sqrt(accDiff) : Math.sqrt(accDiff / accNorm);
            assertTrue(e <= tolerance, "table " + tc.spec().name() + " rows " + when + ": relative error " + e + " over " + changed + " changed rows");
            assertTrue(ea <= tolerance, "table " + tc.spec().name() + " accumulators " + when + ": relative error " + ea);
            worst = Math.max(worst, Math.max(e, ea));
        }
        return worst;
    }

    private static double check(String what, float[] got, float[] want, double tolerance) {
        double e = relErr(got, want, want.length);
        assertTrue(e <= tolerance, what + ": relative error " + e + " > " + tolerance);
        return e;
    }

    static double relErr(float[] got, float[] want, int n) {
        double diff = 0, norm = 0;
        for (int i = 0; i < n; i++) {
            if (!Float.isFinite(got[i])) return Double.POSITIVE_INFINITY;
            diff += (double) (got[i] - want[i]) * (got[i] - want[i]);
            norm += (double) want[i] * want[i];
        }
        return norm == 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
    }
}
