package dev.freshet.trainer.cuda;

import dev.freshet.features.Examples;
import dev.freshet.trainer.DenseParameters;
import dev.freshet.trainer.EmbeddingTable;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelDivergedException;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.OptimizerKind;
import dev.freshet.trainer.StepResult;
import dev.freshet.trainer.TableSpec;
import dev.freshet.trainer.TrainerBackend;
import dev.freshet.trainer.cuda.internal.CudaContext;
import dev.freshet.trainer.cuda.internal.CudaEvent;
import dev.freshet.trainer.cuda.internal.CudaGraph;
import dev.freshet.trainer.cuda.internal.CudaStream;
import dev.freshet.trainer.cuda.internal.DeviceBuffer;
import dev.freshet.trainer.cuda.internal.DeviceModel;
import dev.freshet.trainer.cuda.internal.DlrmKernels;
import dev.freshet.trainer.cuda.internal.GpuEmbeddingCache;
import dev.freshet.trainer.cuda.internal.HostRowStore;
import dev.freshet.trainer.cuda.internal.PinnedHostBuffer;
import dev.freshet.trainer.cuda.internal.StagedInputs;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.BitSet;
import java.util.List;
import java.util.Objects;

/**
 * The DLRM trainer on one NVIDIA GPU, through JCuda's driver API and the project's own kernels
 * (DlrmKernels.cu): every step's gather, interaction, MLPs, loss and updates run on the GPU, replayed
 * as one CUDA graph for full batches.
 *
 * <p>Embedding rows either all live on the GPU, or (with {@link CudaOptions#cached()}) the tables stay
 * in pinned host memory and a frequency-aware GPU cache holds the hot rows. With the cache, {@link
 * #prefetch(Examples)} names the next batch (already polled from Kafka): while the GPU trains the
 * current batch, the cache's directory kernels plan, on a second stream, which rows the next one
 * misses, write the evicted rows back and load the missing ones.
 *
 * <p>Not thread-safe: one trainer thread calls it. The host {@link ModelState} given at creation is
 * the one {@link #state()} brings up to date.
 */
public final class CudaBackend implements TrainerBackend {
    private final ModelConfig config;
    private final CudaOptions options;
    private final ModelState hostState;
    private final CudaContext context;
    private final DlrmKernels kernels;
    private final DeviceModel model;
    private final GpuEmbeddingCache cache;
    private final CudaStream compute;
    private final PinnedHostBuffer hostIo;
    /** The next batch's inputs, uploaded while the current step trains. */
    private final StagedInputs ahead;
    private final long ioDense, ioIds, ioLabels, ioProbs, ioLoss, ioScalars;
    private final BitSet[] dirtyRows;
    private final int tables;
    private final int[] tableRows;
    private CudaGraph stepGraph;
    /**
     * A batch named by prefetch(), checked, and (with the cache) its plan queued on the cache's stream: by
     * train() right after it queued its own step (the host's share overlaps that step), or when the batch
     * trains. The first one's inputs are staged on the GPU meanwhile ({@link #ahead}).
     */
    private static final class Lookahead {
        final Examples batch;
        /** Steps trained when it was named: a lookahead named before the last step and not trained since is stale. */
        final long namedAt;
        /** Its ids were checked against the tables (validate). */
        boolean checked;
        GpuEmbeddingCache.Plan plan;

        Lookahead(Examples batch, long namedAt) {
            this.batch = batch;
            this.namedAt = namedAt;
        }

        Examples batch() {
            return batch;
        }
    }

    /** At most two batches ahead: the cache has three plan workspaces (two lookaheads, one on demand). */
    private static final int MAX_LOOKAHEAD = 2;
    private final java.util.ArrayDeque<Lookahead> lookaheads = new java.util.ArrayDeque<>();
    /** The plan of the inputs staged last, finished once their step synchronised. */
    private GpuEmbeddingCache.Plan staged;
    /**
     * The first lookahead when its inputs (and, with the cache, its plan's slots) were queued for copying into the
     * step's input buffers right behind the last step's outputs (stageNextInputs), else null: its step then
     * starts as soon as train() launches it, instead of after the host has queued the copies. Whatever else
     * writes the input buffers clears it; those writes queue behind the copies on the compute stream.
     */
    private Lookahead stagedNext;
    /** Recorded after a training step's outputs are downloaded: what train() waits for. */
    private final CudaEvent stepOutputs;
    /**
     * Every plan takes the next ticket and pins its rows with it; a plan may evict only rows pinned by
     * tickets older than the oldest batch still to train (training synchronises, so a trained batch's
     * rows are free).
     */
    private long tickets;
    /** Set when a step's result is void (the cache could not hold its batch); every later call fails. */
    private String failure;

    /**
     * The oldest ticket whose rows must stay: the batch staged for the step queued now (its step may still run
     * when the next plan is queued), else the first planned lookahead, else the new plan's own.
     */
    private long oldestLiveTicket(long fresh) {
        if (staged != null) return staged.ticket();
        for (Lookahead l : lookaheads) if (l.plan != null) return l.plan.ticket();
        return fresh;
    }
    private long steps;
    /** Training batches planned when they trained rather than ahead (with the cache). */
    private long plansOnDemand;
    private boolean closed;

    private CudaBackend(ModelConfig config, CudaOptions options, ModelState hostState) {
        this.config = Objects.requireNonNull(config, "config");
        this.options = Objects.requireNonNull(options, "options");
        this.hostState = hostState;
        if (hostState != null && !hostState.config().equals(config)) {
            throw new IllegalArgumentException("the host model state has config " + hostState.config() + ", the backend " + config);
        }
        this.tables = config.numTables();
        this.tableRows = config.tables().stream().mapToInt(t -> (int) t.rows()).toArray();
        CudaContext ctx = new CudaContext(options.device());
        DlrmKernels k = null;
        DeviceModel m = null;
        GpuEmbeddingCache c = null;
        CudaStream s = null;
        PinnedHostBuffer io = null;
        StagedInputs st = null;
        CudaEvent ev = null;
        try {
            k = new DlrmKernels();
            long physical = options.cached() ? options.cacheSlots(config.totalRows()) : config.totalRows();
            m = new DeviceModel(config, k, physical, config.batchSize());
            boolean rowwise = config.embeddingOptimizer().kind() == OptimizerKind.ROWWISE_ADAGRAD;
            if (options.cached()) {
                long[] rows = config.tables().stream().mapToLong(TableSpec::rows).toArray();
                c = new GpuEmbeddingCache(k, m, rows, (int) physical, options.agingSteps(), rowwise, options.cacheTransfer());
            }
            s = new CudaStream("compute");
            int b = config.batchSize();
            long dense = (long) b * config.numDense() * 4, ids = (long) b * tables * 4, labels = b, probs = (long) b * 4;
            io = new PinnedHostBuffer("step input/output staging", dense + ids + align(labels) + probs + 8 + 16, false);
            st = new StagedInputs(b, config.numDense(), tables);
            ev = new CudaEvent("training step outputs downloaded", false);
        } catch (RuntimeException ex) {
            for (AutoCloseable r : new AutoCloseable[]{ev, st, io, s, c, m, k}) closeQuietly(r);
            ctx.close();
            throw ex;
        }
        this.context = ctx;
        this.kernels = k;
        this.model = m;
        this.cache = c;
        this.compute = s;
        this.hostIo = io;
        this.ahead = st;
        this.stepOutputs = ev;
        int b = config.batchSize();
        ioDense = 0;
        ioIds = ioDense + (long) b * config.numDense() * 4;
        ioLabels = ioIds + (long) b * tables * 4;
        ioProbs = ioLabels + align(b);
        ioLoss = ioProbs + (long) b * 4;
        ioScalars = ioLoss + 8;
        dirtyRows = new BitSet[tables];
        for (int t = 0; t < tables; t++) dirtyRows[t] = new BitSet();
    }

    /**
     * A CUDA backend mirroring {@code state}: its weights are copied to the GPU (or, with the cache, to the
     * pinned host tables) and {@link #state()} copies training results back into it. Takes ownership of
     * {@code state}, as the CPU backend does: closing the backend closes it.
     */
    public static CudaBackend create(ModelConfig config, CudaOptions options, ModelState state) {
        Objects.requireNonNull(state, "state");
        CudaBackend b = new CudaBackend(config, options, state);
        try {
            b.load(state);
        } catch (RuntimeException e) {
            b.close();
            throw e;
        }
        return b;
    }

    /**
     * A CUDA backend with no host copy of the model, initialised on the device from the config's seed
     * (uniform rows in [-1/sqrt(rows), 1/sqrt(rows)), Linear weights in [-1/sqrt(in), 1/sqrt(in))): for
     * benchmarks of models too large to build twice. {@link #state()} and {@link #load} refuse; not
     * the same numbers as the CPU backend's initialisation.
     */
    public static CudaBackend createUninitialisedHost(ModelConfig config, CudaOptions options) {
        CudaBackend b = new CudaBackend(config, options, null);
        try {
            b.initialiseOnDevice();
        } catch (RuntimeException e) {
            b.close();
            throw e;
        }
        return b;
    }

    /** Whether a CUDA device is usable here, and its name or why not; never throws. */
    public static CudaContext.Probe probe(int device) {
        return CudaContext.probe(device);
    }

    @Override
    public String description() {
        String where = options.cached()
                ? "cache " + model.physicalRows() + " of " + config.totalRows() + " rows ("
                + String.format("%.2f%%", 100.0 * model.physicalRows() / config.totalRows()) + "), tables in host memory"
                + (cache.hostTable().inHugePages() ? " (2 MiB pages)" : "") + ", "
                + "cache transfer " + transferName()
                : "all rows on the GPU";
        return "cuda (" + context.deviceName() + ", " + (context.totalBytes() >> 30) + " GiB, " + config.precision() + ", " + where + ")";
    }

    /** The cache's transfer mode as trainer.cuda.cache-transfer names it, and "(auto)" when auto chose it. */
    private String transferName() {
        String mode = cache.transfer().name().toLowerCase(java.util.Locale.ROOT);
        return options.cacheTransfer() == CudaOptions.CacheTransfer.AUTO ? mode + " (auto)" : mode;
    }

    /** How the cache moves rows (BUS or COPY), or null without a cache. */
    public CudaOptions.CacheTransfer cacheTransfer() {
        return cache == null ? null : cache.transfer();
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    /** Bytes of GPU memory this backend allocated for the model, its workspace and the cache. */
    public long deviceBytes() {
        return model.allocatedBytes() + (cache == null ? 0 : cache.deviceBytes());
    }

    /** Bytes of pinned host memory holding the tables (cache mode), else 0. */
    public long pinnedHostBytes() {
        if (cache == null) return 0;
        return cache.hostTable().bytes() + (cache.hostAccum() == null ? 0 : cache.hostAccum().bytes());
    }

    public String deviceName() {
        return context.deviceName();
    }

    /** GPU memory in use on the device as the driver reports it now (all processes: total - free). */
    public long deviceUsedBytes() {
        checkOpen();
        return context.totalBytes() - context.freeBytes();
    }

    /** The cache's hit rate so far (1 - rows loaded / lookups), or NaN without a cache. */
    public double cacheHitRate() {
        return cache == null ? Double.NaN : cache.hitRate();
    }

    /**
     * Training steps whose batch was planned when it trained, not ahead beside the step before (with
     * lookahead, only the first step of a stream or a batch not named ahead).
     */
    public long cachePlansOnDemand() {
        return plansOnDemand;
    }

    public void resetCacheStats() {
        if (cache != null) cache.resetStats();
    }

    /** Cache diagnostics: plans made and rows looked up and loaded since the last reset. */
    public String cacheTimings() {
        if (cache == null) return "no cache";
        return String.format(java.util.Locale.ROOT, "%d plans on the GPU, %d lookups, %d rows loaded", cache.plans(),
                cache.lookups(), cache.misses());
    }

    /**
     * Names the batch that the next {@link #train} after the current one will receive (lookahead): while
     * the current batch trains, its inputs are uploaded and, with the GPU cache, its missing rows fetched.
     * The array contents must not change until that batch has trained. With the cache and
     * trainer.cuda.cache-overlap off this does nothing; beyond two batches ahead it does nothing either
     * (the batch is staged when it trains). The batch is checked, planned and staged by the next train(),
     * once that step is queued: the host's share (about 3 ms for a batch of 65,536) then runs while the
     * GPU trains. A batch that fails the check is dropped from the lookahead and fails when it is trained.
     */
    @Override
    public void prefetch(Examples next) {
        checkOpen();
        if (cache != null && !options.overlapSwaps()) return;
        Objects.requireNonNull(next, "next");
        for (Lookahead l : lookaheads) if (l.batch() == next) return;
        if (lookaheads.size() >= MAX_LOOKAHEAD) return;
        lookaheads.addLast(new Lookahead(next, steps));
    }

    /** With the GPU cache: adds the counts to those its victim choice ranks rows by. */
    @Override
    public void frequencyHints(int table, long[] rows, long[] counts) {
        checkOpen();
        if (cache == null) return;
        context.makeCurrent();
        cache.addCounts(table, rows, counts);
    }

    @Override
    public boolean usesFrequencyHints() {
        return cache != null;
    }

    /**
     * Checks the batches named ahead that are not yet checked and, with the cache, queues their plans, in
     * order; then stages the inputs of the first (the next step's batch).
     */
    private void prepareLookaheads() {
        for (java.util.Iterator<Lookahead> it = lookaheads.iterator(); it.hasNext(); ) {
            Lookahead l = it.next();
            if (l.checked) continue;
            try {
                checkShape(l.batch);
                if (l.batch.count < 1 || l.batch.count > config.batchSize()) throw new IllegalArgumentException("batch size");
                if (cache != null) {
                    // queued before the ids are checked, so that the GPU starts on it now: its kernels skip bad ids
                    long ticket = ++tickets;
                    l.plan = cache.plan(l.batch.sparse, l.batch.count, ticket, oldestLiveTicket(ticket));
                }
                checkRows(l.batch);
            } catch (IllegalArgumentException e) {
                if (l.plan != null) cache.release(l.plan); // never used; rows it loaded stay cached
                it.remove(); // train() of this batch checks it again and reports the error
                continue;
            }
            l.checked = true;
        }
        Lookahead next = lookaheads.peekFirst();
        if (next != null && !ahead.holds(next.batch, cache == null)) ahead.stage(next.batch, cache == null);
    }

    @Override
    public void predict(Examples batch, float[] out) {
        checkOpen();
        validate(batch);
        int n = batch.count;
        if (out.length < n) throw new IllegalArgumentException("output array of " + out.length + " for " + n + " examples");
        context.makeCurrent();
        for (int start = 0; start < n; start += config.batchSize()) {
            int len = Math.min(config.batchSize(), n - start);
            stageInputs(batch, start, len, false);
            model.queueForward(len, false, compute);
            model.deviceProbs().download(hostIo.hostAt(ioProbs), (long) len * 4, compute);
            compute.synchronize();
            finishStagedPlan();
            hostIo.view(ioProbs, len * 4).asFloatBuffer().get(out, start, len);
        }
    }

    @Override
    public StepResult train(Examples batch, float[] outProbabilities) {
        checkOpen();
        validate(batch);
        int n = batch.count;
        if (n < 1 || n > config.batchSize()) {
            throw new IllegalArgumentException("a training step takes 1.." + config.batchSize() + " examples (model.batch-size), got " + n);
        }
        if (outProbabilities.length < n) {
            throw new IllegalArgumentException("output array of " + outProbabilities.length + " for " + n + " examples");
        }
        context.makeCurrent();
        stageInputs(batch, 0, n, true);
        queueTrainingStep(n);
        prepareLookaheads(); // host staging, uploads and GPU planning overlap the step just queued
        model.deviceProbs().download(hostIo.hostAt(ioProbs), (long) n * 4, compute);
        model.deviceLoss().download(hostIo.hostAt(ioLoss), 8, compute);
        model.deviceScalars().download(hostIo.hostAt(ioScalars), 16, compute);
        stepOutputs.record(compute);
        try {
            stageNextInputs();
        } catch (IllegalStateException e) {
            // a cache transfer failed: the cache keeps the failure and reports it when that batch trains
        }
        markTouched(batch); // while the GPU trains
        stepOutputs.synchronize();
        finishStagedPlan();
        steps++;
        hostIo.view(ioProbs, n * 4).asFloatBuffer().get(outProbabilities, 0, n);
        double loss = hostIo.view(ioLoss, 8).getDouble(0) / n;
        int nonFinite = hostIo.view(ioScalars, 16).getInt(8);
        if (!Double.isFinite(loss) || nonFinite != 0) {
            throw new ModelDivergedException("training diverged at step " + steps + ": loss " + loss
                    + (nonFinite != 0 ? ", and an updated weight is NaN or infinite" : "")
                    + ". Fix: lower the learning rates (model.dense-learning-rate, model.embedding-learning-rate)");
        }
        return new StepResult(loss, n);
    }

    /**
     * Queues on the compute stream, behind the step just queued and its outputs, the copy of the next batch's
     * inputs into the step's input buffers, when that batch was named, checked, planned and staged ahead. Between
     * two steps of a batch of 2048 the host then only launches the next step: the copies it queued there before
     * left the GPU idle for about 25 us a step (0.96 of steps queued back to back, kaggle16 on an H200).
     */
    private void stageNextInputs() {
        Lookahead next = lookaheads.peekFirst();
        if (next == null || !next.checked || !ahead.holds(next.batch, cache == null)) return;
        if (cache != null) {
            if (next.plan == null) return;
            cache.use(next.plan, model.deviceIds(), compute);
        }
        ahead.copyInto(model.deviceDenseIn(), model.deviceLabels(), cache == null ? model.deviceIds() : null, compute);
        stagedNext = next;
    }

    /**
     * Copies inputs to the device (translating ids to cache slots in cache mode): from the inputs staged
     * while the step before trained when the batch was named ahead, else from the host now. The inputs of a
     * batch trained next as named are already on their way (stageNextInputs).
     */
    private void stageInputs(Examples batch, int start, int len, boolean training) {
        Lookahead copied = stagedNext;
        stagedNext = null; // anything staged now overwrites them
        if (training && start == 0 && copied != null && lookaheads.peekFirst() == copied && copied.batch == batch) {
            lookaheads.removeFirst();
            staged = copied.plan;
            return;
        }
        int nd = config.numDense();
        int[] ids = batch.sparse;
        int idStart = start * tables;
        Lookahead named = null;
        if (training && start == 0) {
            Lookahead first = lookaheads.peekFirst();
            if (first != null && first.batch() == batch) {
                if (!first.checked) prepareLookaheads();
                named = lookaheads.removeFirst();
            } else {
                dropStaleLookaheads(batch);
            }
        }
        if (cache != null) {
            // the ids become cache slots on the GPU: a lookahead plan made while the previous batch trained, or
            // one made now; the step waits for it on the compute stream
            if (named != null) {
                staged = named.plan;
            } else {
                if (training) plansOnDemand++;
                int[] slice = start == 0 ? ids : java.util.Arrays.copyOfRange(ids, idStart, idStart + len * tables);
                long ticket = ++tickets;
                staged = cache.plan(slice, len, ticket, oldestLiveTicket(ticket));
            }
            cache.use(staged, model.deviceIds(), compute);
        }
        if (named != null && ahead.holds(batch, cache == null)) {
            ahead.copyInto(model.deviceDenseIn(), model.deviceLabels(), cache == null ? model.deviceIds() : null, compute);
            return;
        }
        if (cache == null) {
            hostIo.view(ioIds, len * tables * 4).asIntBuffer().put(ids, idStart, len * tables);
            model.deviceIds().upload(hostIo.hostAt(ioIds), (long) len * tables * 4, compute);
        }
        hostIo.view(ioDense, len * nd * 4).asFloatBuffer().put(batch.dense, start * nd, len * nd);
        ByteBuffer labels = hostIo.view(ioLabels, len);
        labels.put(batch.labels, start, len);
        model.deviceDenseIn().upload(hostIo.hostAt(ioDense), (long) len * nd * 4, compute);
        model.deviceLabels().upload(hostIo.hostAt(ioLabels), len, compute);
    }

    /**
     * Before a training batch that was not named first is staged (and planned) on demand: drops every lookahead when the
     * batch is one of them (trained out of order), else those named before the last step (never trained);
     * rows their plans loaded stay cached. Batches named since the last step stay named: that is the first
     * step of a stream, whose own batch nobody named, with the next one already named.
     */
    private void dropStaleLookaheads(Examples training) {
        boolean outOfOrder = false;
        for (Lookahead l : lookaheads) outOfOrder |= l.batch() == training;
        for (java.util.Iterator<Lookahead> it = lookaheads.iterator(); it.hasNext(); ) {
            Lookahead l = it.next();
            if (outOfOrder || l.namedAt < steps) {
                if (l.plan != null) cache.release(l.plan);
                if (ahead.staged() == l.batch) ahead.abandon(); // the same arrays may come back with other contents
                it.remove();
            }
        }
    }

    /** After the step that used the staged plan synchronised: frees it; a cache too small voids the backend. */
    private void finishStagedPlan() {
        if (staged == null) return;
        GpuEmbeddingCache.Plan p = staged;
        staged = null;
        try {
            cache.finish(p);
        } catch (IllegalStateException e) {
            failure = e.getMessage();
            throw e;
        }
    }

    private void queueTrainingStep(int n) {
        if (options.graphs() && n == config.batchSize()) {
            if (stepGraph == null) {
                stepGraph = new CudaGraph("training step", compute, () -> model.queueStep(n, compute));
            }
            stepGraph.launch(compute);
        } else {
            model.queueStep(n, compute);
        }
    }

    private void validate(Examples batch) {
        checkShape(batch);
        for (Lookahead l : lookaheads) if (l.batch() == batch && l.checked) return; // checked when it was prepared
        checkRows(batch);
    }

    private void checkShape(Examples batch) {
        Objects.requireNonNull(batch, "batch");
        if (batch.numDense != config.numDense() || batch.numSparse != tables) {
            throw new IllegalArgumentException("batch has " + batch.numDense + " dense and " + batch.numSparse
                    + " categorical features; the model expects " + config.numDense() + " and " + tables);
        }
    }

    private void checkRows(Examples batch) {
        int[] s = batch.sparse;
        int[] rows = tableRows;
        for (int b = 0, i = 0; b < batch.count; b++) {
            for (int t = 0; t < rows.length; t++, i++) {
                // one unsigned compare: a negative row becomes huge
                if (Integer.compareUnsigned(s[i], rows[t]) >= 0) {
                    TableSpec spec = config.tables().get(t);
                    throw new IllegalArgumentException("embedding row " + s[i] + " out of range for table " + spec.name()
                            + " (" + spec.rows() + " rows), example " + b + " of the batch");
                }
            }
        }
    }

    private void markTouched(Examples batch) {
        if (hostState == null) return;
        int[] s = batch.sparse;
        for (int i = 0, n = batch.count * tables; i < n; i++) {
            int t = i % tables;
            hostState.markTouched(t, s[i]);
            dirtyRows[t].set(s[i]);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Benchmark path: batches already on the GPU, steps queued without waiting (as the PyTorch peer).
    // ------------------------------------------------------------------------------------------

    /** One batch's inputs held on the GPU, for benchmarks (all rows on the GPU only). */
    public final class ResidentBatch implements AutoCloseable {
        private final DeviceBuffer dense, ids, labels;
        private final int count;

        private ResidentBatch(Examples b) {
            int nd = config.numDense();
            count = b.count;
            dense = DeviceBuffer.floats("resident dense", (long) count * nd);
            ids = DeviceBuffer.ints("resident ids", (long) count * tables);
            labels = new DeviceBuffer("resident labels", Math.max(4, count));
            try (PinnedHostBuffer staging = new PinnedHostBuffer("resident staging", (long) count * (nd + tables) * 4 + count, false)) {
                staging.view(0, count * nd * 4).asFloatBuffer().put(b.dense, 0, count * nd);
                staging.view((long) count * nd * 4, count * tables * 4).asIntBuffer().put(b.sparse, 0, count * tables);
                staging.view((long) count * (nd + tables) * 4, count).put(b.labels, 0, count);
                dense.upload(staging.hostAt(0), (long) count * nd * 4, compute);
                ids.upload(staging.hostAt((long) count * nd * 4), (long) count * tables * 4, compute);
                labels.upload(staging.hostAt((long) count * (nd + tables) * 4), count, compute);
                compute.synchronize();
            }
        }

        @Override
        public void close() {
            labels.close();
            ids.close();
            dense.close();
        }
    }

    public ResidentBatch upload(Examples batch) {
        checkOpen();
        if (cache != null) throw new IllegalStateException("resident batches bypass the GPU cache's planning; use train()");
        validate(batch);
        if (batch.count != config.batchSize()) {
            throw new IllegalArgumentException("a resident batch must hold model.batch-size = " + config.batchSize() + " examples, got " + batch.count);
        }
        context.makeCurrent();
        return new ResidentBatch(batch);
    }

    /** Queues one training step on a resident batch and returns without waiting for it. */
    public void trainAsync(ResidentBatch batch) {
        checkOpen();
        context.makeCurrent();
        stagedNext = null;
        int nd = config.numDense();
        int n = batch.count;
        jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync(model.deviceDenseIn().ptr(), batch.dense.ptr(), (long) n * nd * 4, compute.handle());
        jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync(model.deviceIds().ptr(), batch.ids.ptr(), (long) n * tables * 4, compute.handle());
        jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync(model.deviceLabels().ptr(), batch.labels.ptr(), n, compute.handle());
        queueTrainingStep(n);
        steps++;
    }

    /**
     * Runs one step on a resident batch without a graph, with events between its stages, and returns
     * milliseconds per stage (in order). For the benchmark's breakdown.
     */
    public java.util.LinkedHashMap<String, Float> profileStep(ResidentBatch batch) {
        return profileStep(batch, false);
    }

    /** As {@link #profileStep(ResidentBatch)}; with {@code perLayer}, each MLP layer is a stage of its own. */
    public java.util.LinkedHashMap<String, Float> profileStep(ResidentBatch batch, boolean perLayer) {
        checkOpen();
        context.makeCurrent();
        finish();
        stagedNext = null;
        int n = batch.count;
        jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync(model.deviceDenseIn().ptr(), batch.dense.ptr(), (long) n * config.numDense() * 4, compute.handle());
        jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync(model.deviceIds().ptr(), batch.ids.ptr(), (long) n * tables * 4, compute.handle());
        jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync(model.deviceLabels().ptr(), batch.labels.ptr(), n, compute.handle());
        List<String> names = new java.util.ArrayList<>();
        List<CudaEvent> events = new java.util.ArrayList<>();
        CudaEvent start = new CudaEvent("profile start", true);
        start.record(compute);
        try {
            model.queueStep(n, compute, new DeviceModel.StageMarks() {
                @Override
                public void mark(String stage) {
                    CudaEvent e = new CudaEvent("after " + stage, true);
                    e.record(compute);
                    names.add(stage);
                    events.add(e);
                }

                @Override
                public boolean perLayer() {
                    return perLayer;
                }
            });
            compute.synchronize();
            java.util.LinkedHashMap<String, Float> ms = new java.util.LinkedHashMap<>();
            CudaEvent previous = start;
            for (int i = 0; i < names.size(); i++) {
                ms.merge(names.get(i), events.get(i).millisSince(previous), Float::sum);
                previous = events.get(i);
            }
            return ms;
        } finally {
            start.close();
            events.forEach(CudaEvent::close);
        }
    }

    /** Waits for every queued step and returns the last step's mean loss. */
    public double finish() {
        checkOpen();
        context.makeCurrent();
        model.deviceLoss().download(hostIo.hostAt(ioLoss), 8, compute);
        compute.synchronize();
        return hostIo.view(ioLoss, 8).getDouble(0) / config.batchSize();
    }

    /** A timing event recorded on the compute stream now. */
    public CudaEvent recordEvent(String name) {
        checkOpen();
        context.makeCurrent();
        CudaEvent e = new CudaEvent(name, true);
        e.record(compute);
        return e;
    }

    // ------------------------------------------------------------------------------------------
    // Host state: load and write back
    // ------------------------------------------------------------------------------------------

    @Override
    public ModelState state() {
        checkOpen();
        if (hostState == null) throw new IllegalStateException("this CUDA backend was created without a host model state (benchmark mode)");
        context.makeCurrent();
        compute.synchronize();
        DenseParameters d = hostState.dense();
        downloadFloats(model.deviceDense(), d.values());
        if (model.deviceSlot1() != null) downloadFloats(model.deviceSlot1(), d.slot1());
        if (model.deviceSlot2() != null) downloadFloats(model.deviceSlot2(), d.slot2());
        model.deviceScalars().download(hostIo.hostAt(ioScalars), 16, compute);
        compute.synchronize();
        // the device counts every step; the host state counts Adam's steps only (its bias correction)
        if (config.denseOptimizer().kind() == OptimizerKind.ADAM) d.setStep(hostIo.view(ioScalars, 16).getInt(4));
        if (cache != null) {
            cache.flushAll(compute);
            copyDirtyRowsFromPinned();
        } else {
            copyDirtyRowsFromDevice();
        }
        return hostState;
    }

    private void copyDirtyRowsFromDevice() {
        int dim = config.embeddingDim();
        long offset = 0;
        int chunk = 1 << 14;
        float[] row = new float[dim];
        try (PinnedHostBuffer staging = new PinnedHostBuffer("row write-back staging", (long) chunk * (dim + 1) * 4, false)) {
            for (int t = 0; t < tables; t++) {
                EmbeddingTable table = hostState.tables().get(t);
                BitSet dirty = dirtyRows[t];
                for (int r = dirty.nextSetBit(0); r >= 0; ) {
                    // copy a run of up to `chunk` consecutive rows at once
                    int end = Math.min(dirty.nextClearBit(r), r + chunk);
                    int len = end - r;
                    jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync(staging.host(), model.deviceTable().at((offset + r) * dim * 4L),
                            (long) len * dim * 4, compute.handle());
                    if (model.deviceAccum() != null) {
                        jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync(staging.hostAt((long) chunk * dim * 4),
                                model.deviceAccum().at((offset + r) * 4L), (long) len * 4, compute.handle());
                    }
                    compute.synchronize();
                    FloatBuffer w = staging.view(0, len * dim * 4).asFloatBuffer();
                    FloatBuffer a = staging.view((long) chunk * dim * 4, len * 4).asFloatBuffer();
                    for (int i = 0; i < len; i++) {
                        w.get(row, 0, dim);
                        table.writeRow(r + i, row, 0);
                        if (model.deviceAccum() != null) table.setAccumulator(r + i, a.get(i));
                    }
                    r = dirty.nextSetBit(end);
                }
                dirty.clear();
                offset += config.tables().get(t).rows();
            }
        }
    }

    private void copyDirtyRowsFromPinned() {
        int dim = config.embeddingDim();
        float[] row = new float[dim];
        HostRowStore hostTable = cache.hostTable();
        HostRowStore hostAccum = cache.hostAccum();
        for (int t = 0; t < tables; t++) {
            EmbeddingTable table = hostState.tables().get(t);
            BitSet dirty = dirtyRows[t];
            for (int r = dirty.nextSetBit(0); r >= 0; r = dirty.nextSetBit(r + 1)) {
                long g = cache.globalRow(t, r);
                hostTable.row(g).get(row, 0, dim);
                table.writeRow(r, row, 0);
                if (hostAccum != null) table.setAccumulator(r, hostAccum.row(g).get(0));
            }
            dirty.clear();
        }
    }

    @Override
    public void load(ModelState source) {
        checkOpen();
        Objects.requireNonNull(source, "source");
        if (hostState == null) throw new IllegalStateException("this CUDA backend was created without a host model state (benchmark mode)");
        if (!source.config().equals(config)) {
            throw new IllegalArgumentException("cannot load a model of config " + source.config() + " into a backend of config " + config);
        }
        context.makeCurrent();
        compute.synchronize();
        DenseParameters d = source.dense();
        uploadFloats(model.deviceDense(), d.values());
        if (model.deviceSlot1() != null) uploadFloats(model.deviceSlot1(), d.slot1());
        if (model.deviceSlot2() != null) uploadFloats(model.deviceSlot2(), d.slot2());
        ByteBuffer sc = hostIo.view(ioScalars, 16);
        sc.putInt(0, 0).putInt(4, (int) d.step()).putInt(8, 0).putInt(12, 0);
        model.deviceScalars().upload(hostIo.hostAt(ioScalars), 16, compute);
        compute.synchronize();
        int dim = config.embeddingDim();
        float[] row = new float[dim];
        stagedNext = null;
        if (cache != null) {
            lookaheads.clear();
            ahead.abandon();
            cache.invalidate(); // waits for the plans still running
            for (int t = 0; t < tables; t++) {
                EmbeddingTable table = source.tables().get(t);
                for (int r = 0; r < table.spec().rows(); r++) {
                    long g = cache.globalRow(t, r);
                    table.readRow(r, row, 0);
                    cache.hostTable().row(g).put(row, 0, dim);
                    if (cache.hostAccum() != null) cache.hostAccum().row(g).put(0, table.accumulator(r));
                }
            }
            int[] zeros = new int[tables];
            hostIo.view(ioIds, tables * 4).asIntBuffer().put(zeros);
            model.deviceTableOffset().upload(hostIo.hostAt(ioIds), tables * 4L, compute);
        } else {
            int chunk = 1 << 14;
            long offset = 0;
            int[] offsets = new int[tables];
            try (PinnedHostBuffer staging = new PinnedHostBuffer("row upload staging", (long) chunk * (dim + 1) * 4, false)) {
                for (int t = 0; t < tables; t++) {
                    offsets[t] = (int) offset;
                    EmbeddingTable table = source.tables().get(t);
                    long rows = table.spec().rows();
                    for (long r0 = 0; r0 < rows; r0 += chunk) {
                        int len = (int) Math.min(chunk, rows - r0);
                        FloatBuffer w = staging.view(0, len * dim * 4).asFloatBuffer();
                        FloatBuffer a = staging.view((long) chunk * dim * 4, len * 4).asFloatBuffer();
                        for (int i = 0; i < len; i++) {
                            table.readRow((int) (r0 + i), row, 0);
                            w.put(row, 0, dim);
                            a.put(i, table.accumulator((int) (r0 + i)));
                        }
                        jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync(model.deviceTable().at((offset + r0) * dim * 4L), staging.host(),
                                (long) len * dim * 4, compute.handle());
                        if (model.deviceAccum() != null) {
                            jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync(model.deviceAccum().at((offset + r0) * 4L),
                                    staging.hostAt((long) chunk * dim * 4), (long) len * 4, compute.handle());
                        }
                        compute.synchronize();
                    }
                    offset += rows;
                }
            }
            hostIo.view(ioIds, tables * 4).asIntBuffer().put(offsets);
            model.deviceTableOffset().upload(hostIo.hostAt(ioIds), tables * 4L, compute);
        }
        compute.synchronize();
        for (BitSet b : dirtyRows) b.clear();
    }

    private void initialiseOnDevice() {
        context.makeCurrent();
        long seed = config.seed();
        DenseParameters shapes = new DenseParameters(config);
        for (var layer : shapes.layers()) {
            float scale = (float) (1.0 / Math.sqrt(layer.in()));
            kernels.fillUniform((long) layer.in() * layer.out(), model.deviceDense().at(layer.weightOffset() * 4L),
                    seed * 31 + layer.weightOffset(), scale, compute);
            kernels.fillUniform(layer.out(), model.deviceDense().at(layer.biasOffset() * 4L), seed * 31 + layer.biasOffset(), scale, compute);
        }
        if (model.deviceSlot1() != null) model.deviceSlot1().fill32(0, model.deviceSlot1().bytes() / 4, compute);
        if (model.deviceSlot2() != null) model.deviceSlot2().fill32(0, model.deviceSlot2().bytes() / 4, compute);
        model.deviceScalars().fill32(0, 4, compute);
        int dim = config.embeddingDim();
        long offset = 0;
        int[] offsets = new int[tables];
        for (int t = 0; t < tables; t++) {
            long rows = config.tables().get(t).rows();
            float scale = (float) (1.0 / Math.sqrt(rows));
            offsets[t] = cache == null ? (int) offset : 0;
            if (cache == null) {
                kernels.fillUniform(rows * dim, model.deviceTable().at(offset * dim * 4L), seed ^ (0x5DEECE66DL * (t + 1)), scale, compute);
            } else {
                cache.hostTable().fillUniform(kernels, offset, rows, seed ^ (0x5DEECE66DL * (t + 1)), scale, 0, compute);
            }
            offset += rows;
        }
        if (model.deviceAccum() != null) model.deviceAccum().fill32(0, model.deviceAccum().bytes() / 4, compute);
        if (cache != null && cache.hostAccum() != null) cache.hostAccum().zero(compute);
        hostIo.view(ioIds, tables * 4).asIntBuffer().put(offsets);
        model.deviceTableOffset().upload(hostIo.hostAt(ioIds), tables * 4L, compute);
        compute.synchronize();
    }

    private void downloadFloats(DeviceBuffer device, float[] host) {
        int chunk = (int) Math.min(host.length, (hostIo.bytes() / 4));
        for (int start = 0; start < host.length; start += chunk) {
            int len = Math.min(chunk, host.length - start);
            jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync(hostIo.host(), device.at(start * 4L), len * 4L, compute.handle());
            compute.synchronize();
            hostIo.view(0, len * 4).asFloatBuffer().get(host, start, len);
        }
    }

    private void uploadFloats(DeviceBuffer device, float[] host) {
        int chunk = (int) Math.min(host.length, (hostIo.bytes() / 4));
        for (int start = 0; start < host.length; start += chunk) {
            int len = Math.min(chunk, host.length - start);
            hostIo.view(0, len * 4).asFloatBuffer().put(host, start, len);
            jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync(device.at(start * 4L), hostIo.host(), len * 4L, compute.handle());
            compute.synchronize();
        }
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("the CUDA backend is closed; it cannot be used after close()");
        if (failure != null) throw new IllegalStateException("the CUDA backend cannot continue after a void step: " + failure);
    }

    private static long align(long bytes) {
        return (bytes + 15) & ~15L;
    }

    private static void closeQuietly(AutoCloseable r) {
        if (r == null) return;
        try {
            r.close();
        } catch (Exception ignored) {
            // closing after a failed start; the original error is rethrown
        }
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            context.makeCurrent();
            compute.synchronize();
        } catch (RuntimeException ignored) {
            // a failed device still has its handles released below
        }
        for (AutoCloseable r : new AutoCloseable[]{stepGraph, stepOutputs, ahead, hostIo, compute, cache, model, kernels}) closeQuietly(r);
        context.close();
        closeQuietly(hostState);
    }
}
