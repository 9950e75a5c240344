package dev.freshet.trainer.cuda.internal;

import dev.freshet.trainer.host.DirectBuffers;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static jcuda.driver.JCudaDriver.CU_MEMHOSTALLOC_DEVICEMAP;
import static jcuda.driver.JCudaDriver.CU_MEMHOSTALLOC_PORTABLE;
import static jcuda.driver.JCudaDriver.CU_MEMHOSTREGISTER_DEVICEMAP;
import static jcuda.driver.JCudaDriver.CU_MEMHOSTREGISTER_PORTABLE;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemHostAlloc;
import static jcuda.driver.JCudaDriver.cuMemHostGetDevicePointer;
import static jcuda.driver.JCudaDriver.cuMemHostRegister;
import static jcuda.driver.JCudaDriver.cuMemHostUnregister;

/**
 * Page-locked host memory, off the Java heap: staging for copies, and (mapped) the full embedding
 * tables that the GPU cache reads and writes directly over the bus.
 */
public final class PinnedHostBuffer extends CudaResource {
    private static final int HUGE_PAGE = 2 << 20;

    private final Pointer host;
    private final CUdeviceptr device;
    private final long bytes;
    /**
     * Registered memory: the Java-allocated buffer (2 MiB aligned) that the driver pinned, and the allocation it lies
     * in, freed at close (not when the collector gets to it: a closed cache's tables are gigabytes); null for the
     * driver's own memory.
     */
    private final ByteBuffer registered;
    private final ByteBuffer allocation;

    public PinnedHostBuffer(String name, long bytes, boolean mapped) {
        this(name, bytes, mapped, false);
    }

    /**
     * Mapped memory for tables the GPU reads and writes over the bus and host threads copy rows of at random:
     * where the kernel backs Java's large allocations with transparent huge pages ({@link HostHugePages}), the
     * memory is allocated by Java at a 2 MiB boundary and registered with the driver (cuMemHostRegister), so
     * that a host thread's row copy misses the TLB far less often. Elsewhere, or where it would leave less than a
     * quarter of Java's direct-memory limit (-XX:MaxDirectMemorySize, by default the heap's limit) to the rest of
     * the process (Kafka's and Flink's buffers come from it too), the driver allocates it as for any other
     * buffer. At most 1 GiB.
     */
    public static PinnedHostBuffer forRowTable(String name, long bytes) {
        if (HostHugePages.available() && bytes <= 1L << 30 && HostHugePages.directMemoryLeftAfter(bytes + 2L * HUGE_PAGE) >= 0) {
            try {
                return new PinnedHostBuffer(name, bytes, true, true);
            } catch (OutOfMemoryError | IllegalStateException e) {
                // Java's direct-memory limit, or the driver would not register it: the driver's own allocation below
            }
        }
        return new PinnedHostBuffer(name, bytes, true, false);
    }

    private PinnedHostBuffer(String name, long bytes, boolean mapped, boolean hugePages) {
        super("pinned host buffer " + name + " (" + bytes + " bytes)");
        if (bytes <= 0) throw new IllegalArgumentException("pinned host buffer " + name + " needs a positive size, got " + bytes);
        this.bytes = bytes;
        if (hugePages) {
            // alignedSlice rounds both ends to the unit: whole huge pages, plus one for the alignment
            long whole = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
            allocation = ByteBuffer.allocateDirect(Math.toIntExact(whole + HUGE_PAGE));
            registered = allocation.alignedSlice(HUGE_PAGE);
            host = Pointer.to(registered);
            try {
                cuMemHostRegister(host, bytes, CU_MEMHOSTREGISTER_PORTABLE | (mapped ? CU_MEMHOSTREGISTER_DEVICEMAP : 0));
            } catch (RuntimeException e) {
                DirectBuffers.free(allocation);
                throw new IllegalStateException("could not register " + (bytes >> 20) + " MiB of host memory for " + name
                        + " with the driver (" + e.getMessage() + ")", e);
            }
        } else {
            registered = null;
            allocation = null;
            host = new Pointer();
            try {
                cuMemHostAlloc(host, bytes, CU_MEMHOSTALLOC_PORTABLE | (mapped ? CU_MEMHOSTALLOC_DEVICEMAP : 0));
            } catch (RuntimeException e) {
                throw new IllegalStateException("could not pin " + (bytes >> 20) + " MiB of host memory for " + name + " ("
                        + e.getMessage() + "). Fix: more host memory, or a smaller model", e);
            }
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
        if (registered != null) {
            return registered.slice(Math.toIntExact(byteOffset), length).order(ByteOrder.LITTLE_ENDIAN);
        }
        return host.getByteBuffer(byteOffset, length).order(ByteOrder.LITTLE_ENDIAN);
    }

    public long bytes() {
        return bytes;
    }

    /** Whether this memory was allocated by Java at a 2 MiB boundary (huge pages where the kernel gives them). */
    public boolean inHugePages() {
        return registered != null;
    }

    @Override
    void release() {
        if (registered != null) {
            cuMemHostUnregister(host);
            DirectBuffers.free(allocation);
        } else {
            cuMemFreeHost(host);
        }
    }
}
