package dev.freshet.trainer.cuda.internal;

import dev.freshet.features.Examples;

import java.util.ArrayList;
import java.util.List;

import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;

/**
 * One batch's inputs (dense features, labels and, where asked, row ids) copied to the GPU ahead of its
 * step, on a stream of their own, while the step before it trains: the step then starts with three copies
 * inside the GPU instead of waiting for the host to fill pinned memory and for the bus. One slot: a batch
 * staged here must be used (or abandoned) before the next is staged, and staging waits until the last
 * staged inputs were copied out.
 */
public final class StagedInputs extends CudaResource {
    private final int numDense;
    private final int tables;
    private final int capacity;
    private final PinnedHostBuffer host;
    private final DeviceBuffer dense, labels, ids;
    private final CudaStream stream;
    private final CudaEvent uploaded, copiedOut;
    private final List<CudaResource> owned = new ArrayList<>();
    private Examples staged;
    /** Examples and ids as staged: what the copy moves, whatever the batch object holds by then. */
    private int stagedCount;
    private boolean stagedIds;

    /** Room for batches of up to {@code capacity} examples. */
    public StagedInputs(int capacity, int numDense, int tables) {
        super("staged step inputs");
        this.capacity = capacity;
        this.numDense = numDense;
        this.tables = tables;
        try {
            host = add(new PinnedHostBuffer("staged inputs", (long) capacity * (numDense + tables) * 4 + capacity, false));
            dense = add(DeviceBuffer.floats("staged dense features", (long) capacity * numDense));
            ids = add(DeviceBuffer.ints("staged row ids", (long) capacity * tables));
            labels = add(new DeviceBuffer("staged labels", Math.max(4, capacity)));
            stream = add(new CudaStream("input staging"));
            uploaded = add(new CudaEvent("staged inputs uploaded", false));
            copiedOut = add(new CudaEvent("staged inputs copied out", false));
        } catch (RuntimeException e) {
            closeAll(owned);
            throw e;
        }
    }

    private <T extends CudaResource> T add(T r) {
        owned.add(r);
        return r;
    }

    /** The batch whose inputs are staged (or being staged), null when none. */
    public Examples staged() {
        return staged;
    }

    /**
     * Copies {@code batch}'s inputs (its row ids too when {@code withIds}) into pinned memory and queues
     * their upload; returns at once. The arrays are read now, so they may change afterwards.
     */
    public void stage(Examples batch, boolean withIds) {
        checkOpen();
        int n = batch.count;
        if (n < 1 || n > capacity) throw new IllegalArgumentException("cannot stage " + n + " examples: room for 1.." + capacity);
        uploaded.synchronize(); // the last upload has read the pinned memory
        long denseBytes = (long) n * numDense * 4, idBytes = (long) n * tables * 4;
        long idsAt = (long) capacity * numDense * 4, labelsAt = idsAt + (long) capacity * tables * 4;
        host.view(0, (int) denseBytes).asFloatBuffer().put(batch.dense, 0, n * numDense);
        host.view(labelsAt, n).put(batch.labels, 0, n);
        if (withIds) host.view(idsAt, (int) idBytes).asIntBuffer().put(batch.sparse, 0, n * tables);
        stream.waitFor(copiedOut); // the step that used the last staged inputs has copied them out
        dense.upload(host.hostAt(0), denseBytes, stream);
        labels.upload(host.hostAt(labelsAt), n, stream);
        if (withIds) ids.upload(host.hostAt(idsAt), idBytes, stream);
        uploaded.record(stream);
        staged = batch;
        stagedCount = n;
        stagedIds = withIds;
    }

    /** Whether {@code batch}'s inputs are staged, row ids included when {@code withIds}. */
    public boolean holds(Examples batch, boolean withIds) {
        return staged == batch && (stagedIds || !withIds);
    }

    /**
     * Queues on {@code compute} the copy of the staged inputs into a step's input buffers (ids only when
     * {@code toIds} is given) once their upload is done; the slot is then free for the next batch.
     */
    public void copyInto(DeviceBuffer toDense, DeviceBuffer toLabels, DeviceBuffer toIds, CudaStream compute) {
        checkOpen();
        if (staged == null) throw new IllegalStateException("no inputs staged");
        int n = stagedCount;
        compute.waitFor(uploaded);
        cuMemcpyDtoDAsync(toDense.ptr(), dense.ptr(), (long) n * numDense * 4, compute.handle());
        cuMemcpyDtoDAsync(toLabels.ptr(), labels.ptr(), n, compute.handle());
        if (toIds != null) cuMemcpyDtoDAsync(toIds.ptr(), ids.ptr(), (long) n * tables * 4, compute.handle());
        copiedOut.record(compute);
        staged = null;
    }

    /** Forgets the staged batch (it will not train next); its upload still completes before the next staging. */
    public void abandon() {
        staged = null;
    }

    @Override
    void release() {
        closeAllAfter(stream, owned);
    }
}
