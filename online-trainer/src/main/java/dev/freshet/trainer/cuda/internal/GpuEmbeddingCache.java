package dev.freshet.trainer.cuda.internal;

import dev.freshet.trainer.cuda.CudaOptions.CacheTransfer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdeviceptr;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;

/**
 * The frequency-aware GPU embedding cache: the full tables (weights and row-wise accumulators) in
 * pinned, mapped host memory, the hot rows in the {@link DeviceModel}'s physical rows (the cache's
 * slots), and the directory that maps one to the other on the GPU (DlrmKernels.cu, "GPU embedding
 * cache directory"). After Colossal-AI's frequency-aware CachedEmbeddingBag (2022: "keeping 1.5% of
 * embedding parameters on the GPU still gives decent end-to-end speed"), with the planning moved to the
 * GPU: the host only forwards a batch's ids.
 *
 * <p>{@link #plan} queues, on the cache's own stream, everything that makes one batch's rows resident:
 * count and pin the batch's cached rows (their lookups get their slots), choose victims among the unpinned slots
 * of low count that a clock hand sweeps past, write the victims back and load the misses, and give the
 * lookups that missed their new slots. A plan may evict only slots last
 * used by tickets older than {@code oldestLive}, the oldest batch not yet trained: a lookahead plan runs
 * while the batch before it trains and never touches its rows. {@link #use} makes the compute stream wait
 * for the plan and copies its slots into the step's inputs; {@link #finish} (after the step synchronised)
 * reports a cache too small for the batches in flight and frees the plan's buffers.
 *
 * <p>Rows move in one of two ways ({@link CacheTransfer}). Bus: one kernel reads and writes the host
 * tables over the bus (mapped memory). Copy: a kernel packs the victims' rows into one buffer, a copy
 * engine takes it to the host, host threads write the victims into the tables and gather the missing rows
 * ({@link HostRowMover}), a copy engine brings those back and a kernel puts them into their slots. The host's
 * share waits for the GPU's, so the cache's transfer thread completes a copy-mode plan while the caller goes
 * on (checking and staging the next batch while the GPU trains). The transfer thread gathers the rows to load
 * first and queues their upload; only then does it write the evicted rows into the host tables, while the GPU
 * unpacks and the next plan looks its batch up. The next plan and {@link #use} wait for the upload to be
 * queued, {@link #release} and the synchronous methods for the whole host share. One thread calls the cache;
 * the transfer thread touches only the pending plan's workspace, the transfer buffers, the host tables and the
 * cache's stream, each of which the caller reaches only after waiting for it (the stream: after the upload is
 * queued, when the transfer thread queues nothing more for that plan).
 *
 * <p>A row evicted by one plan and loaded by a later one carries every update made to it, in both modes,
 * because plans move rows in ticket order. Bus: the plans' kernels run in order on one stream, so the later
 * plan's load reads the host table after the earlier one's write-back. Copy: the plans' host shares run one
 * after the other on the one transfer thread, write-back included, so the earlier plan's victims are in the
 * host tables before the later plan's host share gathers them (and before its download overwrites the
 * transfer buffer they are written from); the later plan's pack runs on the stream after the earlier plan's
 * unpack. Within one plan no row is both evicted (it was cached) and loaded (it was
 * not). The rows a plan evicts are not being updated meanwhile: slots of the batch in flight are never
 * victims, and earlier steps have synchronised.
 *
 * <p>GPU memory beyond the cached rows: 8 bytes per table row for the directory (slot and access
 * count) and 12 per slot (row, last ticket, the row's count), three plan workspaces of about 32 bytes per lookup of a full batch, and in copy mode one packed
 * buffer of 4 (D + 3) bytes per row a plan can move (min(lookups of a full batch, slots)); the same twice in
 * pinned host memory.
 */
public final class GpuEmbeddingCache extends CudaResource {
    /** Plan workspaces: two lookaheads and one plan made on demand. */
    private static final int PLAN_BUFFERS = 3;
    private static final int COUNTER_WORDS = 48;

    private final DlrmKernels kernels;
    private final DeviceModel model;
    private final int dim;
    private final int tables;
    private final int capacity;
    private final long[] tableOffset;
    private final int agingSteps;
    private final HostRowStore hostTable;
    private final HostRowStore hostAccum;
    private final CudaStream stream;
    private final DlrmKernels.CacheDirectory directory;
    private final DeviceBuffer offsets, rowSlot, rowCount, slotRow, slotEpoch, slotCount, totalMisses;
    /** The victim sweep's hand and threshold, carried from plan to plan (DlrmKernels.cacheChooseVictims). */
    private final DeviceBuffer sweepClock;
    private final PinnedHostBuffer statsStaging;
    private final PlanBuffer[] buffers = new PlanBuffer[PLAN_BUFFERS];
    private final List<CudaResource> owned = new ArrayList<>();
    private final CacheTransfer transfer;
    private final List<String> stages;
    /**
     * Copy mode only (else null): one set of transfer buffers for all plans. Plans move rows one after the other
     * (the class comment): the next plan's download lands in {@code hostDown} after this plan's host share read
     * it, and its host share writes {@code hostUp} only once its own download has ended, which the stream runs
     * after this plan's upload.
     */
    private final DeviceBuffer devicePacked;
    private final PinnedHostBuffer hostDown, hostUp, hostSwapCounts;
    private final ByteBuffer hostDownRows, hostUpRows;
    private final CudaEvent swapCounted, loadsListed, swapPacked;
    private final HostRowMover mover;
    /** Swap entries the transfer buffers hold: a plan moves at most min(its misses, the slots) rows. */
    private final int packedEntries;
    /** Copy mode: the thread that completes plans, with the context it works in. */
    private final ExecutorService transferThread;
    private final CUcontext context;
    /**
     * The copy-mode plan being completed on the transfer thread (at most one), that work, and the point in it
     * after which the plan's rows are on their way to the GPU (only the write-back of its victims is left).
     */
    private Plan pending;
    private Future<?> pendingWork;
    private java.util.concurrent.CompletableFuture<Void> pendingQueued;
    /** Why a write-back of evicted rows failed after its plan's upload was queued (the transfer thread sets it). */
    private volatile String writeBackFailure;
    /** Why a copy-mode plan's rows never reached their slots; the directory then lists rows the slots lack. */
    private String transferFailure;
    private long plans;
    /** Count hints: staging and device buffers grown on demand (rows, then counts), and their upload's end. */
    private final CudaEvent hintsDone;
    private PinnedHostBuffer hintStaging;
    private DeviceBuffer hintDevice;
    private int hintCapacity;
    private long lookups;

    /** One batch's plan: the workspace that holds its slots until the step that uses them has run. */
    public static final class Plan {
        final PlanBuffer buffer;
        final long ticket;
        final int lookups;

        private Plan(PlanBuffer buffer, long ticket, int lookups) {
            this.buffer = buffer;
            this.ticket = ticket;
            this.lookups = lookups;
        }

        public long ticket() {
            return ticket;
        }
    }

    static final class PlanBuffer {
        final PinnedHostBuffer stagingIds;
        final PinnedHostBuffer result;
        final DeviceBuffer ids, slots, space;
        final DlrmKernels.CachePlanSpace workspace;
        final CudaEvent done;
        boolean held;
        boolean used;

        PlanBuffer(int index, int maxLookups, int maxMisses, List<CudaResource> owned) {
            stagingIds = add(owned, new PinnedHostBuffer("cache plan ids staging " + index, (long) maxLookups * 4, false));
            result = add(owned, new PinnedHostBuffer("cache plan result " + index, 4L * COUNTER_WORDS, false));
            ids = add(owned, DeviceBuffer.ints("cache plan ids " + index, maxLookups));
            slots = add(owned, DeviceBuffer.ints("cache plan slots " + index, maxLookups));
            space = add(owned, DeviceBuffer.ints("cache plan workspace " + index, COUNTER_WORDS + 6L * maxMisses));
            long m = 4L * maxMisses;
            long c = 4L * COUNTER_WORDS;
            workspace = new DlrmKernels.CachePlanSpace(maxMisses, space.at(0), space.at(c), space.at(c + m), space.at(c + 2 * m),
                    space.at(c + 3 * m), space.at(c + 4 * m), space.at(c + 5 * m));
            done = add(owned, new CudaEvent("cache plan done " + index, false));
        }
    }

    private static <T extends CudaResource> T add(List<CudaResource> owned, T r) {
        owned.add(r);
        return r;
    }

    /**
     * @param tableRows  rows of each table (the host tables hold them all)
     * @param capacity   cache slots (the device model's physical rows)
     * @param agingSteps halve the cached rows' access counts every this many plans (0: never)
     * @param transfer   how rows move; AUTO picks by the lookups of a full batch
     */
    public GpuEmbeddingCache(DlrmKernels kernels, DeviceModel model, long[] tableRows, int capacity, int agingSteps,
                             boolean rowwiseAccum, CacheTransfer transfer) {
        super("GPU embedding cache");
        this.kernels = kernels;
        this.model = model;
        this.dim = model.config().embeddingDim();
        this.tables = tableRows.length;
        this.tableOffset = new long[tables + 1];
        for (int t = 0; t < tables; t++) tableOffset[t + 1] = tableOffset[t] + tableRows[t];
        long total = tableOffset[tables];
        if (total > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("the GPU cache addresses at most " + Integer.MAX_VALUE + " rows in all; the tables have " + total);
        }
        if (capacity < 1 || capacity > total) {
            throw new IllegalArgumentException("GPU cache capacity " + capacity + " rows outside 1.." + total + " (the rows of all tables)");
        }
        this.capacity = capacity;
        this.agingSteps = agingSteps;
        int maxLookups = model.maxBatch() * tables;
        int maxMisses = maxLookups; // a batch misses at most as many distinct rows as it looks up
        this.transfer = java.util.Objects.requireNonNull(transfer, "transfer").forBatchLookups(maxLookups);
        this.stages = this.transfer == CacheTransfer.COPY ? COPY_STAGES : BUS_STAGES;
        if (rowwiseAccum != (model.deviceAccum() != null)) {
            throw new IllegalArgumentException("the GPU cache's host tables " + (rowwiseAccum ? "have" : "lack")
                    + " row accumulators but the device model " + (rowwiseAccum ? "lacks" : "has") + " them: both follow"
                    + " whether the embedding optimizer is row-wise Adagrad");
        }
        this.packedEntries = Math.min(maxMisses, capacity);
        long packedBytes = HostRowMover.downBytes(packedEntries, dim, rowwiseAccum);
        if (this.transfer == CacheTransfer.COPY && packedBytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("copy-engine cache transfers of up to " + packedEntries + " rows of " + dim
                    + " floats need " + packedBytes + " bytes of staging, more than the " + Integer.MAX_VALUE
                    + " a buffer holds. Fix: trainer.cuda.cache-transfer=bus, or a smaller model.batch-size or cache");
        }
        try {
            hostTable = add(owned, new HostRowStore("host embedding tables", total, dim));
            hostAccum = rowwiseAccum ? add(owned, new HostRowStore("host row accumulators", total, 1)) : null;
            // high priority: the plan's small kernels and the bus-bound swap get multiprocessors as soon as a
            // block of the training step's GEMMs retires, instead of queueing behind the whole GEMM grid
            stream = add(owned, new CudaStream("cache plans", true));
            offsets = add(owned, DeviceBuffer.ints("cache table offsets", tables + 1L));
            rowSlot = add(owned, DeviceBuffer.ints("cache directory: slot of each row", total));
            rowCount = add(owned, DeviceBuffer.ints("cache directory: access count of each row", total));
            slotRow = add(owned, DeviceBuffer.ints("cache directory: row of each slot", capacity));
            slotEpoch = add(owned, DeviceBuffer.ints("cache directory: last ticket of each slot", capacity));
            slotCount = add(owned, DeviceBuffer.ints("cache directory: access count of each slot's row", capacity));
            totalMisses = add(owned, new DeviceBuffer("cache misses", 8));
            sweepClock = add(owned, DeviceBuffer.ints("cache victim sweep: hand and threshold", 2));
            statsStaging = add(owned, new PinnedHostBuffer("cache statistics staging", 8 + 4L * (tables + 1), false));
            for (int i = 0; i < PLAN_BUFFERS; i++) buffers[i] = new PlanBuffer(i, maxLookups, maxMisses, owned);
            hintsDone = add(owned, new CudaEvent("cache count hints done", false));
            if (this.transfer == CacheTransfer.COPY) {
                devicePacked = add(owned, new DeviceBuffer("cache packed swap rows", packedBytes));
                hostDown = add(owned, new PinnedHostBuffer("cache swap rows from the GPU", packedBytes, false));
                hostUp = add(owned, new PinnedHostBuffer("cache swap rows to the GPU",
                        HostRowMover.upBytes(packedEntries, dim, rowwiseAccum), false));
                hostSwapCounts = add(owned, new PinnedHostBuffer("cache swap counts", 8, false));
                swapCounted = add(owned, new CudaEvent("cache swap counted", false));
                loadsListed = add(owned, new CudaEvent("cache rows to load listed", false));
                swapPacked = add(owned, new CudaEvent("cache swap rows downloaded", false));
                hostDownRows = hostDown.view(0, (int) hostDown.bytes());
                hostUpRows = hostUp.view(0, (int) hostUp.bytes());
                mover = new HostRowMover(HostRowMover.threadsForThisMachine());
                context = new CUcontext();
                jcuda.driver.JCudaDriver.cuCtxGetCurrent(context);
                transferThread = Executors.newSingleThreadExecutor(r -> {
                    Thread t = new Thread(r, "freshet-cache-transfers");
                    t.setDaemon(true);
                    return t;
                });
            } else {
                devicePacked = null;
                hostDown = hostUp = hostSwapCounts = null;
                swapCounted = loadsListed = swapPacked = null;
                hostDownRows = hostUpRows = null;
                mover = null;
                context = null;
                transferThread = null;
            }
        } catch (RuntimeException e) {
            closeAll(owned);
            throw e;
        }
        directory = new DlrmKernels.CacheDirectory(capacity, rowSlot.ptr(), rowCount.ptr(), slotRow.ptr(), slotEpoch.ptr(),
                slotCount.ptr());
        ByteBuffer o = statsStaging.view(8, 4 * (tables + 1));
        for (int t = 0; t <= tables; t++) o.putInt((int) tableOffset[t]);
        offsets.upload(statsStaging.hostAt(8), 4L * (tables + 1), stream);
        rowCount.fill32(0, total, stream);
        totalMisses.fill32(0, 2, stream);
        sweepClock.fill32(0, 2, stream);
        clearDirectory();
    }

    public int capacity() {
        return capacity;
    }

    /** How this cache moves rows: BUS or COPY. */
    public CacheTransfer transfer() {
        return transfer;
    }

    public long totalRows() {
        return tableOffset[tables];
    }

    /** Global row number of {@code row} of table {@code table} (the host tables' row index). */
    public long globalRow(int table, int row) {
        return tableOffset[table] + row;
    }

    public HostRowStore hostTable() {
        return hostTable;
    }

    /** Null unless the embeddings use row-wise Adagrad. */
    public HostRowStore hostAccum() {
        return hostAccum;
    }

    /** Bytes of GPU memory of the directory and the plan workspaces (the cached rows are the model's). */
    public long deviceBytes() {
        long b = offsets.bytes() + rowSlot.bytes() + rowCount.bytes() + slotRow.bytes() + slotEpoch.bytes() + slotCount.bytes()
                + totalMisses.bytes() + sweepClock.bytes();
        for (PlanBuffer p : buffers) b += p.ids.bytes() + p.slots.bytes() + p.space.bytes();
        return b + (devicePacked == null ? 0 : devicePacked.bytes());
    }

    /**
     * Queues the plan of one batch ({@code ids[b * T + t]}: example b's row of table t) on the cache's
     * stream and returns at once (in copy mode, once the plan before it has completed). Ids outside their table
     * are skipped (their slots are meaningless): the
     * caller checks the batch, and releases the plan unused if it fails, before a step uses it. Tickets
     * increase from plan to plan; slots used by tickets {@code >= oldestLive} are never evicted.
     */
    public Plan plan(int[] ids, int examples, long ticket, long oldestLive) {
        return plan(ids, examples, ticket, oldestLive, null);
    }

    private static final List<String> BUS_STAGES = List.of("ids upload", "lookup", "victims", "swap", "assign");
    /**
     * "host rows" is how long the stream waits, after the evicted rows' download, for the host to gather the rows to
     * load (it starts on their list, which comes first, while the GPU packs); not the write-back of the evicted
     * rows, which follows the upload's queueing.
     */
    private static final List<String> COPY_STAGES = List.of("ids upload", "lookup", "victims", "pack + download", "host rows",
            "upload + unpack", "assign");

    /** Stages of a plan in this cache's transfer mode, as {@link #profile} times them. */
    public List<String> stages() {
        return stages;
    }

    /**
     * Makes one plan with timing events between its stages and waits for it: milliseconds per stage of
     * {@link #stages()}. For benchmarks; the plan is released at once.
     */
    public double[] profile(int[] ids, int examples, long ticket, long oldestLive) {
        CudaEvent[] marks = new CudaEvent[stages.size() + 1];
        try {
            for (int i = 0; i < marks.length; i++) marks[i] = new CudaEvent("cache plan stage " + i, true);
            Plan p = plan(ids, examples, ticket, oldestLive, marks);
            awaitTransfer();
            stream.synchronize();
            release(p);
            double[] ms = new double[stages.size()];
            for (int i = 0; i < ms.length; i++) ms[i] = marks[i + 1].millisSince(marks[i]);
            return ms;
        } finally {
            for (CudaEvent e : marks) if (e != null) e.close();
        }
    }

    private Plan plan(int[] ids, int examples, long ticket, long oldestLive, CudaEvent[] marks) {
        checkOpen();
        // the earlier plan's loaded rows are queued before this plan's lookup; its write-back ends before this
        // plan's host share starts, on the same transfer thread (the class comment)
        awaitQueued();
        checkTransfers();
        int n = examples * tables;
        PlanBuffer b = freeBuffer();
        b.done.synchronize(); // its last plan's upload has read the staging memory
        b.held = true;
        b.used = false;
        b.stagingIds.view(0, n * 4).asIntBuffer().put(ids, 0, n);
        mark(marks, 0);
        b.ids.upload(b.stagingIds.host(), 4L * n, stream);
        DlrmKernels.CachePlanSpace w = b.workspace;
        b.space.fill32(0, COUNTER_WORDS, stream);
        mark(marks, 1);
        if (agingSteps > 0 && plans > 0 && plans % agingSteps == 0) kernels.cacheAge(directory, stream);
        int epoch = (int) ticket, live = (int) oldestLive;
        kernels.cacheLookup(n, tables, b.ids.ptr(), offsets.ptr(), directory, epoch, b.slots.ptr(), w, stream);
        mark(marks, 2);
        kernels.cacheChooseVictims(directory, live, epoch, n, w, sweepClock.ptr(), totalMisses.ptr(), stream);
        mark(marks, 3);
        Plan plan = new Plan(b, ticket, n);
        plans++;
        lookups += n;
        if (transfer == CacheTransfer.COPY) {
            b.space.download(hostSwapCounts.host(), 8, stream); // counters [0] misses and [1] victims claimed
            swapCounted.record(stream);
            java.util.concurrent.CompletableFuture<Void> queued = new java.util.concurrent.CompletableFuture<>();
            pending = plan;
            pendingQueued = queued;
            pendingWork = transferThread.submit(() -> {
                try {
                    jcuda.driver.JCudaDriver.cuCtxSetCurrent(context);
                    completeTransfer(plan, marks, queued);
                } catch (RuntimeException | Error e) {
                    if (!queued.completeExceptionally(e)) {
                        writeBackFailure = "the rows GPU cache plan " + plan.ticket + " evicted did not reach the host tables (" + e + ")";
                    }
                    throw e;
                }
            });
            return plan;
        }
        kernels.cacheSwap(w.maxMisses(), w.counters(), w.swapSlot(), w.swapEvict(), w.swapLoad(), model.deviceTable().ptr(),
                deviceAccum(), hostTable, hostAccum, dim, stream);
        mark(marks, 4);
        kernels.cacheAssignMisses(n, tables, b.ids.ptr(), offsets.ptr(), directory, b.slots.ptr(), w, stream);
        mark(marks, 5);
        fetchOutcome(b);
        b.done.record(stream);
        return plan;
    }

    private CUdeviceptr deviceAccum() {
        return model.deviceAccum() == null ? null : model.deviceAccum().ptr();
    }

    /**
     * Copy mode: waits until the transfer thread has queued the pending plan's upload (all it queues on the
     * stream for that plan), if it has not been waited for; its write-back may still run.
     */
    private void awaitQueued() {
        java.util.concurrent.CompletableFuture<Void> queued = pendingQueued;
        if (queued == null) return;
        pendingQueued = null;
        await(queued, pending);
    }

    /** Copy mode: waits until the transfer thread has completed the pending plan, write-back included, if any. */
    private void awaitTransfer() {
        awaitQueued();
        Plan p = pending;
        if (p == null) return;
        Future<?> work = pendingWork;
        pending = null;
        pendingWork = null;
        await(work, p);
    }

    /** Waits for {@code work} of plan {@code p}, interrupted or not; a failure there fails the cache (checkTransfers). */
    private void await(Future<?> work, Plan p) {
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    work.get();
                    return;
                } catch (InterruptedException e) {
                    interrupted = true; // the transfer thread still uses the stream and the buffers: wait all the same
                }
            }
        } catch (ExecutionException e) {
            if (transferFailure == null) {
                transferFailure = writeBackFailure != null ? writeBackFailure
                        : "the rows of GPU cache plan " + p.ticket + " did not reach their slots (" + e.getCause() + ")";
            }
            throw transferFailed(e.getCause());
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    private void checkTransfers() {
        if (transferFailure == null) transferFailure = writeBackFailure;
        if (transferFailure != null) throw transferFailed(null);
    }

    private IllegalStateException transferFailed(Throwable cause) {
        return new IllegalStateException(transferFailure + "; the cache would serve wrong rows and cannot be used."
                + " Fix: restart from the last checkpoint (trainer.cuda.cache-transfer=bus avoids the host's share)", cause);
    }

    /**
     * On the transfer thread: waits until the plan's swap lists are known, queues the download of the rows to load
     * and then the packing and download of the victims' rows, gathers the rows to load as soon as their list is on
     * the host (while the GPU packs and the copy engine moves the victims), queues their upload, the unpack and the
     * slot assignment (then completes {@code queued}), and writes the victims' rows into the host tables once they
     * have arrived. Gathering only after the victims' download held kaggle16's plans at batch 16384 about 0.2 ms
     * longer, near a 1.3 ms bf16 step (bench/device/NOTES.md, session 10).
     */
    private void completeTransfer(Plan p, CudaEvent[] marks, java.util.concurrent.CompletableFuture<Void> queued) {
        if (writeBackFailure != null) throw new IllegalStateException(writeBackFailure);
        PlanBuffer b = p.buffer;
        DlrmKernels.CachePlanSpace w = b.workspace;
        swapCounted.synchronize();
        ByteBuffer counts = hostSwapCounts.view(0, 8);
        // the entries that move rows: cache_install fills min(maxMisses, misses) entries, those past the victims
        // claimed (a shortfall, which finish() reports) move nothing
        int n = Math.min(w.maxMisses(), Math.min(counts.getInt(0), counts.getInt(4)));
        if (n > packedEntries) {
            throw new IllegalStateException("GPU cache plan " + p.ticket + " swaps " + n + " rows, more than the " + packedEntries
                    + " its transfer buffers hold (min(lookups of a full batch, slots)); the directory is inconsistent."
                    + " Fix: trainer.cuda.cache-transfer=bus, and report this as a bug");
        }
        boolean accum = hostAccum != null;
        if (n > 0) {
            // the packed layout's loaded-row list first, straight from the swap list; then the rest of the layout,
            // which the host does not read until the write-back
            cuMemcpyDtoHAsync(hostDown.hostAt(4L * n), w.swapLoad(), 4L * n, stream.handle());
            loadsListed.record(stream);
            kernels.cachePack(n, w, model.deviceTable().ptr(), deviceAccum(), dim, devicePacked.ptr(), stream);
            cuMemcpyDtoHAsync(hostDown.host(), devicePacked.ptr(), 4L * n, stream.handle());
            cuMemcpyDtoHAsync(hostDown.hostAt(8L * n), devicePacked.at(8L * n), HostRowMover.downBytes(n, dim, accum) - 8L * n,
                    stream.handle());
            swapPacked.record(stream);
        }
        mark(marks, 4);
        if (n > 0) {
            loadsListed.synchronize();
            mover.gather(n, hostDownRows, hostUpRows, hostTable.hostRows(), accum ? hostAccum.hostRows() : null);
        }
        mark(marks, 5);
        if (n > 0) {
            devicePacked.upload(hostUp.host(), HostRowMover.upBytes(n, dim, accum), stream);
            kernels.cacheUnpack(n, w, devicePacked.ptr(), model.deviceTable().ptr(), deviceAccum(), dim, stream);
        }
        mark(marks, 6);
        kernels.cacheAssignMisses(p.lookups, tables, b.ids.ptr(), offsets.ptr(), directory, b.slots.ptr(), w, stream);
        mark(marks, 7);
        fetchOutcome(b);
        b.done.record(stream);
        queued.complete(null);
        // the victims' rows, from the download buffer, which the next plan's download (queued by this thread,
        // after this) overwrites; the next plan's gather runs after this too
        if (n > 0) {
            swapPacked.synchronize();
            mover.writeBack(n, hostDownRows, hostTable.hostRows(), accum ? hostAccum.hostRows() : null);
        }
    }

    /**
     * Queues the download of the plan's outcome (misses, and whether the cache could hold the batch) for
     * {@link #finish}: on the cache's stream, at the end of the plan, rather than on the step's stream, where a
     * small device-to-host copy would hold the step back by a bus round trip.
     */
    private void fetchOutcome(PlanBuffer b) {
        b.space.download(b.result.host(), 4L * 5, stream);
    }

    private void mark(CudaEvent[] marks, int i) {
        if (marks != null) marks[i].record(stream);
    }

    private PlanBuffer freeBuffer() {
        for (PlanBuffer b : buffers) if (!b.held) return b;
        throw new IllegalStateException("all " + PLAN_BUFFERS + " GPU cache plan workspaces are held by batches not trained yet;"
                + " a plan must be used and finished (or released) before more than " + PLAN_BUFFERS + " are made");
    }

    /**
     * Makes {@code compute} wait for the plan (its outcome for {@link #finish} fetched with it), then copies its
     * slots into {@code stepIds} (the step's id input).
     */
    public void use(Plan plan, DeviceBuffer stepIds, CudaStream compute) {
        checkOpen();
        if (plan == pending) awaitQueued();
        checkTransfers();
        PlanBuffer b = plan.buffer;
        compute.waitFor(b.done);
        cuMemcpyDtoDAsync(stepIds.ptr(), b.slots.ptr(), 4L * plan.lookups, compute.handle());
        b.used = true;
    }

    /**
     * After the step that used the plan synchronised: frees its workspace, and fails when the cache could not
     * hold the batch (fewer evictable slots than missing rows; that step then read wrong rows).
     */
    public void finish(Plan plan) {
        PlanBuffer b = plan.buffer;
        b.held = false;
        if (!b.used) return;
        ByteBuffer r = b.result.view(0, 20);
        if (r.getInt(12) != 0) {
            throw new IllegalStateException("GPU embedding cache too small: batch " + plan.ticket + " misses " + r.getInt(0)
                    + " rows but only " + r.getInt(16) + " of the " + capacity + " slots are not held by batches in flight;"
                    + " the step that used it read wrong rows and its result is void. Fix: raise trainer.cuda.cache-fraction"
                    + " (or trainer.cuda.cache-rows), or lower model.batch-size, then restart from the last checkpoint");
        }
    }

    /** Frees a plan that will not be used (its batch will be planned again); the rows it loaded stay cached. */
    public void release(Plan plan) {
        if (plan == pending) awaitTransfer(); // the directory already lists its rows as cached
        plan.buffer.held = false;
    }

    /** Writes every cached row back to the host tables (weights and accumulators), keeping it cached. Synchronous. */
    public void flushAll(CudaStream compute) {
        checkOpen();
        awaitTransfer();
        checkTransfers(); // slots that never received their rows must not overwrite the host tables
        stream.synchronize();
        compute.synchronize();
        kernels.cacheFlush(capacity, null, slotRow.ptr(), model.deviceTable().ptr(),
                model.deviceAccum() == null ? null : model.deviceAccum().ptr(), hostTable, hostAccum, dim, compute);
        compute.synchronize();
    }

    /** Forgets every cached row (after the host tables were replaced); access counts are kept. Synchronous. */
    public void invalidate() {
        checkOpen();
        awaitTransfer();
        for (PlanBuffer b : buffers) b.held = false;
        clearDirectory();
    }

    private void clearDirectory() {
        rowSlot.fill32(-1, totalRows(), stream);
        slotRow.fill32(-1, capacity, stream);
        slotEpoch.fill32(-1, capacity, stream);
        slotCount.fill32(0, capacity, stream);
        stream.synchronize();
    }

    public long lookups() {
        return lookups;
    }

    /** Rows loaded into the cache so far (a row looked up twice by one batch is loaded at most once). Synchronous. */
    public long misses() {
        checkOpen();
        totalMisses.download(statsStaging.host(), 8, stream);
        stream.synchronize();
        return statsStaging.view(0, 8).getLong(0);
    }

    /** 1 - rows loaded / lookups. Synchronous. */
    public double hitRate() {
        return lookups == 0 ? 0 : 1.0 - (double) misses() / lookups;
    }

    public long plans() {
        return plans;
    }

    public void resetStats() {
        checkOpen();
        totalMisses.fill32(0, 2, stream);
        stream.synchronize();
        lookups = 0;
    }

    /**
     * Adds access counts of table {@code table}'s rows seen elsewhere (feature-stats heavy hitters) to the
     * counts the victim choice ranks by; rows outside the table and counts below 1 are skipped. Queued on
     * the cache's stream, so it lands between plans.
     */
    public void addCounts(int table, long[] rows, long[] counts) {
        checkOpen();
        if (table < 0 || table >= tables) throw new IndexOutOfBoundsException("table " + table + " outside 0.." + (tables - 1));
        int n = Math.min(rows.length, counts.length);
        if (n == 0) return;
        if (hintCapacity < n) {
            if (hintDevice != null) {
                hintsDone.synchronize();
                owned.remove(hintDevice);
                owned.remove(hintStaging);
                hintDevice.close();
                hintStaging.close();
            }
            hintCapacity = Math.max(n, 1024);
            hintStaging = add(owned, new PinnedHostBuffer("cache count hints staging", 8L * hintCapacity, false));
            hintDevice = add(owned, DeviceBuffer.ints("cache count hints", 2L * hintCapacity));
        }
        hintsDone.synchronize(); // the last hints' upload has read the staging memory
        java.nio.IntBuffer b = hintStaging.view(0, 8 * n).asIntBuffer();
        long size = tableOffset[table + 1] - tableOffset[table];
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (rows[i] < 0 || rows[i] >= size || counts[i] < 1) continue;
            b.put(k, (int) (tableOffset[table] + rows[i]));
            b.put(n + k, (int) Math.min(counts[i], Integer.MAX_VALUE));
            k++;
        }
        if (k == 0) return;
        hintDevice.upload(hintStaging.host(), 8L * n, stream);
        kernels.cacheAddCounts(k, hintDevice.ptr(), hintDevice.at(4L * n), directory, stream);
        hintsDone.record(stream);
    }

    // Directory snapshots, synchronous: for tests and diagnostics.

    /** The slot of each lookup of a plan (after it ran). */
    int[] slotsOf(Plan plan) {
        awaitTransfer();
        stream.synchronize();
        return download(plan.buffer.slots, plan.lookups);
    }

    /** The row in each slot, -1 when empty. */
    int[] slotRows() {
        awaitTransfer();
        stream.synchronize();
        return download(slotRow, capacity);
    }

    /** The slot of each global row, -1 when not cached. */
    int[] rowSlots() {
        awaitTransfer();
        stream.synchronize();
        return download(rowSlot, (int) totalRows());
    }

    private static int[] download(DeviceBuffer b, int n) {
        int[] out = new int[n];
        jcuda.driver.JCudaDriver.cuMemcpyDtoH(jcuda.Pointer.to(out), b.ptr(), 4L * n);
        return out;
    }

    @Override
    void release() {
        if (transferThread != null) {
            try {
                awaitTransfer();
            } catch (IllegalStateException e) {
                // closing anyway: the failure was or will be reported where the plan is used
            }
            transferThread.shutdownNow();
            mover.close();
        }
        closeAllAfter(stream, owned);
    }
}
