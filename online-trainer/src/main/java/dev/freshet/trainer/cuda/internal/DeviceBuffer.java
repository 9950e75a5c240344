package dev.freshet.trainer.cuda.internal;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD32Async;

/** One device allocation (cuMemAlloc), freed by close(). */
public final class DeviceBuffer extends CudaResource {
    private final CUdeviceptr pointer = new CUdeviceptr();
    private final long bytes;

    public DeviceBuffer(String name, long bytes) {
        super("device buffer " + name + " (" + bytes + " bytes)");
        if (bytes <= 0) throw new IllegalArgumentException("device buffer " + name + " needs a positive size, got " + bytes);
        this.bytes = bytes;
        try {
            cuMemAlloc(pointer, bytes);
        } catch (RuntimeException e) {
            throw new IllegalStateException("could not allocate " + (bytes >> 20) + " MiB of GPU memory for " + name
                    + " (" + e.getMessage() + "). Fix: a smaller batch size, or the GPU embedding cache "
                    + "(trainer.cuda.cache-fraction) so the tables stay in host memory", e);
        }
    }

    public static DeviceBuffer floats(String name, long count) {
        return new DeviceBuffer(name, Math.max(1, count) * Float.BYTES);
    }

    public static DeviceBuffer ints(String name, long count) {
        return new DeviceBuffer(name, Math.max(1, count) * Integer.BYTES);
    }

    /** The device pointer, for kernel parameters. */
    public CUdeviceptr ptr() {
        checkOpen();
        return pointer;
    }

    /** The device pointer {@code byteOffset} bytes in. */
    public CUdeviceptr at(long byteOffset) {
        checkOpen();
        if (byteOffset < 0 || byteOffset > bytes) {
            throw new IndexOutOfBoundsException("offset " + byteOffset + " outside " + what());
        }
        return pointer.withByteOffset(byteOffset);
    }

    public long bytes() {
        return bytes;
    }

    public void upload(Pointer host, long count, CudaStream stream) {
        checkRange(count);
        cuMemcpyHtoDAsync(ptr(), host, count, stream.handle());
    }

    public void download(Pointer host, long count, CudaStream stream) {
        checkRange(count);
        cuMemcpyDtoHAsync(host, ptr(), count, stream.handle());
    }

    /** Sets the first {@code words} 32-bit words to {@code value} (0 for zero floats, -1 for "empty" ints). */
    public void fill32(int value, long words, CudaStream stream) {
        checkRange(words * 4);
        cuMemsetD32Async(ptr(), value, words, stream.handle());
    }

    private void checkRange(long count) {
        if (count < 0 || count > bytes) {
            throw new IndexOutOfBoundsException(count + " bytes do not fit " + what());
        }
    }

    @Override
    void release() {
        cuMemFree(pointer);
    }
}
