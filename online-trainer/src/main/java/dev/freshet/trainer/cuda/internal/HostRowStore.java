package dev.freshet.trainer.cuda.internal;

import jcuda.Pointer;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;

/**
 * Rows of {@code dim} floats in pinned, mapped host memory, which kernels read and write over the bus:
 * the GPU cache's backing store of full embedding tables (or of their row accumulators). Held in chunks of
 * at most 1 GiB, because JCuda describes each pinned allocation with a ByteBuffer, whose size is an int;
 * kernels find row r in chunk r / rowsPerChunk through a device array of the chunks' addresses, the host
 * through {@link RowChunks}.
 */
public final class HostRowStore extends CudaResource {
    private static final long CHUNK_BYTES = 1L << 30;

    private final PinnedHostBuffer[] chunks;
    private final long rows;
    private final int dim;
    private final long rowsPerChunk;
    private final DeviceBuffer deviceChunkAddresses;
    private final RowChunks hostRows;

    public HostRowStore(String name, long rows, int dim) {
        this(name, rows, dim, CHUNK_BYTES);
    }

    /** With chunks of at most {@code chunkBytes} (tests use small chunks to cross chunk boundaries). */
    HostRowStore(String name, long rows, int dim, long chunkBytes) {
        super("host row store " + name);
        if (rows < 1 || dim < 1) throw new IllegalArgumentException("host row store " + name + " needs rows and dim >= 1, got " + rows + " x " + dim);
        this.rows = rows;
        this.dim = dim;
        this.rowsPerChunk = Math.max(1, Math.min(CHUNK_BYTES, chunkBytes) / ((long) dim * Float.BYTES));
        int n = (int) ((rows + rowsPerChunk - 1) / rowsPerChunk);
        this.chunks = new PinnedHostBuffer[n];
        DeviceBuffer addresses = null;
        try {
            jcuda.driver.CUdeviceptr[] ptrs = new jcuda.driver.CUdeviceptr[n];
            for (int c = 0; c < n; c++) {
                long chunkRows = Math.min(rowsPerChunk, rows - c * rowsPerChunk);
                chunks[c] = PinnedHostBuffer.forRowTable(name + " chunk " + c, chunkRows * dim * Float.BYTES);
                ptrs[c] = chunks[c].devicePointer();
            }
            addresses = new DeviceBuffer(name + " chunk addresses", (long) n * Long.BYTES);
            // JCuda copies an array of device pointers as their address values (its pointer-array idiom)
            jcuda.driver.JCudaDriver.cuMemcpyHtoD(addresses.ptr(), Pointer.to(ptrs), (long) n * jcuda.Sizeof.POINTER);
        } catch (RuntimeException e) {
            for (PinnedHostBuffer b : chunks) if (b != null) b.close();
            if (addresses != null) addresses.close();
            throw e;
        }
        this.deviceChunkAddresses = addresses;
        ByteBuffer[] views = new ByteBuffer[n];
        for (int c = 0; c < n; c++) views[c] = chunks[c].view(0, (int) chunks[c].bytes());
        this.hostRows = new RowChunks(views, rows, dim, rowsPerChunk);
    }

    public long rows() {
        return rows;
    }

    public long rowsPerChunk() {
        return rowsPerChunk;
    }

    /** The device array of chunk addresses, for the cache kernels. */
    public jcuda.driver.CUdeviceptr chunkAddresses() {
        checkOpen();
        return deviceChunkAddresses.ptr();
    }

    /** A view of row {@code r} (host side). */
    public FloatBuffer row(long r) {
        checkOpen();
        if (r < 0 || r >= rows) throw new IndexOutOfBoundsException("row " + r + " outside " + what() + " of " + rows + " rows");
        return hostRows.row(r);
    }

    /** The rows as the host reads and writes them (the copy-engine swap's row copies). */
    RowChunks hostRows() {
        checkOpen();
        return hostRows;
    }

    /**
     * Fills rows [first, first + count) with the counter-based uniform sequence of {@code seed}, element e of
     * the range getting element {@code firstIndex + e} of the sequence (so a table split over chunks draws
     * the same numbers as a table in one piece).
     */
    public void fillUniform(DlrmKernels kernels, long first, long count, long seed, float scale, long firstIndex, CudaStream stream) {
        checkOpen();
        long done = 0;
        while (done < count) {
            long r = first + done;
            int c = (int) (r / rowsPerChunk);
            long within = r % rowsPerChunk;
            long n = Math.min(count - done, rowsPerChunk - within);
            kernels.fillUniform(n * dim, chunks[c].devicePointer().withByteOffset(within * dim * Float.BYTES), seed, scale,
                    firstIndex + done * dim, stream);
            done += n;
        }
    }

    /** Sets every element to 0. */
    public void zero(CudaStream stream) {
        checkOpen();
        for (PinnedHostBuffer c : chunks) {
            jcuda.driver.JCudaDriver.cuMemsetD32Async(c.devicePointer(), 0, c.bytes() / 4, stream.handle());
        }
    }

    /** Whether every chunk lies at 2 MiB boundaries in Java-allocated memory (see {@link PinnedHostBuffer#forRowTable}). */
    public boolean inHugePages() {
        for (PinnedHostBuffer c : chunks) if (!c.inHugePages()) return false;
        return true;
    }

    public long bytes() {
        long b = 0;
        for (PinnedHostBuffer c : chunks) b += c.bytes();
        return b;
    }

    @Override
    void release() {
        deviceChunkAddresses.close();
        for (PinnedHostBuffer c : chunks) c.close();
    }
}
