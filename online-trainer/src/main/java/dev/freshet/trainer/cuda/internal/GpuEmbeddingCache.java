package dev.freshet.trainer.cuda.internal;

import java.nio.IntBuffer;

/**
 * The GPU side of the embedding cache: the full tables (weights and row-wise accumulators) in pinned,
 * mapped host memory, the swap lists of {@link CachePlanner} on the device, and the prefetch stream on
 * which one kernel writes evicted rows back and loads admitted rows while the compute stream trains
 * the current batch. The cache's slots are the {@link DeviceModel}'s physical rows.
 */
public final class GpuEmbeddingCache extends CudaResource {
    private final DlrmKernels kernels;
    private final DeviceModel model;
    private final CachePlanner planner;
    private final int dim;
    private final HostRowStore hostTable;
    private final HostRowStore hostAccum;
    /** Two plan buffers, used in turn: the plan of the batch training now and the lookahead plan. */
    private final PinnedHostBuffer[] hostPlan = new PinnedHostBuffer[2];
    private final DeviceBuffer[] devicePlan = new DeviceBuffer[2];
    private int nextPlan;
    private final int maxSwaps;
    private final CudaStream prefetch;
    private final CudaEvent swapsDone;

    public GpuEmbeddingCache(DlrmKernels kernels, DeviceModel model, CachePlanner planner, boolean rowwiseAccum) {
        super("GPU embedding cache");
        this.kernels = kernels;
        this.model = model;
        this.planner = planner;
        this.dim = model.config().embeddingDim();
        long rows = planner.totalRows();
        HostRowStore table = null, accum = null;
        CudaStream stream = null;
        try {
            table = new HostRowStore("host embedding tables", rows, dim);
            accum = rowwiseAccum ? new HostRowStore("host row accumulators", rows, 1) : null;
            this.maxSwaps = Math.min(planner.capacity(), model.maxBatch() * model.config().numTables());
            for (int i = 0; i < 2; i++) {
                hostPlan[i] = new PinnedHostBuffer("cache swap plan staging " + i, 3L * maxSwaps * Integer.BYTES, false);
                devicePlan[i] = DeviceBuffer.ints("cache swap plan " + i, 3L * maxSwaps);
            }
            stream = new CudaStream("cache prefetch");
            this.swapsDone = new CudaEvent("cache swaps done", false);
        } catch (RuntimeException e) {
            for (CudaResource r : new CudaResource[]{table, accum, hostPlan[0], hostPlan[1], devicePlan[0], devicePlan[1], stream}) {
                if (r != null) r.close();
            }
            planner.close();
            throw e;
        }
        this.hostTable = table;
        this.hostAccum = accum;
        this.prefetch = stream;
    }

    public CachePlanner planner() {
        return planner;
    }

    public HostRowStore hostTable() {
        return hostTable;
    }

    /** Null under SGD. */
    public HostRowStore hostAccum() {
        return hostAccum;
    }

    /**
     * Queues the swaps of the batch about to train on the compute stream, after any prefetch swaps still
     * running (a row the prefetch wrote back may be loaded again here).
     */
    public void queueSwapsNow(CachePlanner.Plan plan, CudaStream compute) {
        compute.waitFor(swapsDone);
        queueSwaps(plan, compute);
    }

    /**
     * Queues the lookahead plan's swaps on the prefetch stream, after {@code computeReady} (recorded on the
     * compute stream once the current batch's own swaps were queued, so that write-backs stay in order),
     * and marks their end with the event that {@link #awaitPrefetch} makes the compute stream wait for.
     */
    public void queuePrefetch(CachePlanner.Plan plan, CudaEvent computeReady) {
        prefetch.waitFor(computeReady);
        queueSwaps(plan, prefetch);
        swapsDone.record(prefetch);
    }

    /** Makes the compute stream wait for the prefetched swaps. */
    public void awaitPrefetch(CudaStream compute) {
        compute.waitFor(swapsDone);
    }

    /**
     * Plans alternate between two staging buffers: at most two plans are in flight (the one of the batch
     * training and the lookahead), and every training step synchronises before the next plan is staged.
     */
    private void queueSwaps(CachePlanner.Plan plan, CudaStream stream) {
        checkOpen();
        int n = plan.swaps();
        if (n == 0) return;
        if (n > maxSwaps) {
            throw new IllegalStateException("cache plan of " + n + " swaps exceeds the " + maxSwaps + " the workspace holds");
        }
        PinnedHostBuffer host = hostPlan[nextPlan];
        DeviceBuffer device = devicePlan[nextPlan];
        nextPlan ^= 1;
        IntBuffer ints = host.view(0, 3 * n * Integer.BYTES).asIntBuffer();
        ints.put(plan.swapSlots(), 0, n).put(plan.evictRows(), 0, n).put(plan.loadRows(), 0, n);
        device.upload(host.host(), 3L * n * Integer.BYTES, stream);
        kernels.cacheSwap(n, device.at(0), device.at(4L * n), device.at(8L * n), model.deviceTable().ptr(),
                model.deviceAccum() == null ? null : model.deviceAccum().ptr(), hostTable, hostAccum, dim, stream);
    }

    /**
     * Writes every cached row back to the host tables (weights and accumulators), keeping it cached; used
     * before the host tables are read. Synchronous.
     */
    public void flushAll(CudaStream stream) {
        checkOpen();
        int cap = planner.capacity();
        int chunk = Math.min(cap, maxSwaps);
        int[] slots = new int[chunk];
        int[] rows = new int[chunk];
        int n = 0;
        for (int s = 0; s < cap; s++) {
            int r = planner.rowIn(s);
            if (r < 0) continue;
            slots[n] = s;
            rows[n] = r;
            if (++n == chunk) {
                flush(slots, rows, n, stream);
                n = 0;
            }
        }
        if (n > 0) flush(slots, rows, n, stream);
    }

    private void flush(int[] slots, int[] rows, int n, CudaStream stream) {
        stream.waitFor(swapsDone);
        IntBuffer ints = hostPlan[0].view(0, 2 * n * Integer.BYTES).asIntBuffer();
        ints.put(slots, 0, n).put(rows, 0, n);
        devicePlan[0].upload(hostPlan[0].host(), 2L * n * Integer.BYTES, stream);
        kernels.cacheFlush(n, devicePlan[0].at(0), devicePlan[0].at(4L * n), model.deviceTable().ptr(),
                model.deviceAccum() == null ? null : model.deviceAccum().ptr(), hostTable, hostAccum, dim, stream);
        stream.synchronize();
    }

    @Override
    void release() {
        swapsDone.close();
        prefetch.close();
        for (int i = 0; i < 2; i++) {
            devicePlan[i].close();
            hostPlan[i].close();
        }
        if (hostAccum != null) hostAccum.close();
        hostTable.close();
        planner.close();
    }
}
