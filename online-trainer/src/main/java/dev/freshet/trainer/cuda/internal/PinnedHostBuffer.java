package dev.freshet.trainer.cuda.internal;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static jcuda.driver.JCudaDriver.CU_MEMHOSTALLOC_DEVICEMAP;
import static jcuda.driver.JCudaDriver.CU_MEMHOSTALLOC_PORTABLE;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemHostAlloc;
import static jcuda.driver.JCudaDriver.cuMemHostGetDevicePointer;

/**
 * Page-locked host memory, off the Java heap: staging for copies, and (mapped) the full embedding
 * tables that the GPU cache reads and writes directly over the bus.
 */
public final class PinnedHostBuffer extends CudaResource {
    private final Pointer host = new Pointer();
    private final CUdeviceptr device;
    private final long bytes;

    public PinnedHostBuffer(String name, long bytes, boolean mapped) {
        super("pinned host buffer " + name + " (" + bytes + " bytes)");
        if (bytes <= 0) throw new IllegalArgumentException("pinned host buffer " + name + " needs a positive size, got " + bytes);
        this.bytes = bytes;
        try {
            cuMemHostAlloc(host, bytes, CU_MEMHOSTALLOC_PORTABLE | (mapped ? CU_MEMHOSTALLOC_DEVICEMAP : 0));
        } catch (RuntimeException e) {
            throw new IllegalStateException("could not pin " + (bytes >> 20) + " MiB of host memory for " + name + " ("
                    + e.getMessage() + "). Fix: more host memory, or a smaller model", e);
        }
        if (mapped) {
            device = new CUdeviceptr();
            cuMemHostGetDevicePointer(device, host, 0);
        } else {
            device = null;
        }
    }

    public Pointer host() {
        checkOpen();
        return host;
    }

    public Pointer hostAt(long byteOffset) {
        checkOpen();
        return host.withByteOffset(byteOffset);
    }

    /** The device's address of this memory (mapped buffers only), for kernels that read or write it directly. */
    public CUdeviceptr devicePointer() {
        checkOpen();
        if (device == null) throw new IllegalStateException(what() + " was not allocated as mapped memory");
        return device;
    }

    /** A little-endian view of {@code [byteOffset, byteOffset + length)}; length at most 2 GiB. */
    public ByteBuffer view(long byteOffset, int length) {
        checkOpen();
        if (byteOffset < 0 || byteOffset + length > bytes) {
            throw new IndexOutOfBoundsException("bytes [" + byteOffset + ", " + (byteOffset + length) + ") outside " + what());
        }
        return host.getByteBuffer(byteOffset, length).order(ByteOrder.LITTLE_ENDIAN);
    }

    public long bytes() {
        return bytes;
    }

    @Override
    void release() {
        cuMemFreeHost(host);
    }
}
