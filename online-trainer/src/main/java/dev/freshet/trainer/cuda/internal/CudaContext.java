package dev.freshet.trainer.cuda.internal;

import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

import java.nio.charset.StandardCharsets;

import static jcuda.driver.JCudaDriver.cuCtxCreate;
import static jcuda.driver.JCudaDriver.cuCtxDestroy;
import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDeviceTotalMem;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;

/**
 * One CUDA context on one device, through the driver API only (the GPU machines carry CUDA 13 and no
 * CUDA 12 runtime libraries, so nothing beyond libcuda may be needed at run time). Every driver call in
 * this package throws on a non-success result (JCuda's exceptions are enabled here).
 */
public final class CudaContext extends CudaResource {
    private final CUcontext context = new CUcontext();
    private final CUdevice device = new CUdevice();
    private final String name;
    private final long totalBytes;
    private final int ordinal;

    /** What {@link #probe(int)} found: a usable device, or why there is none. */
    public record Probe(boolean available, String deviceName, long totalBytes, String reason) {
    }

    public CudaContext(int ordinal) {
        super("CUDA context on device " + ordinal);
        this.ordinal = ordinal;
        initDriver();
        int[] count = {0};
        cuDeviceGetCount(count);
        if (ordinal < 0 || ordinal >= count[0]) {
            throw new IllegalArgumentException("CUDA device " + ordinal + " does not exist: the driver sees " + count[0]
                    + " device(s). Fix: choose a device index in 0.." + (count[0] - 1));
        }
        cuDeviceGet(device, ordinal);
        byte[] nameBytes = new byte[256];
        cuDeviceGetName(nameBytes, nameBytes.length, device);
        int len = 0;
        while (len < nameBytes.length && nameBytes[len] != 0) len++;
        this.name = new String(nameBytes, 0, len, StandardCharsets.US_ASCII);
        long[] total = {0};
        cuDeviceTotalMem(total, device);
        this.totalBytes = total[0];
        cuCtxCreate(context, 0, device);
    }

    /**
     * Whether a CUDA device can be used here, without keeping a context: loading the JCuda natives,
     * cuInit and a device count. Never throws; the reason says what is missing.
     */
    public static Probe probe(int ordinal) {
        try {
            initDriver();
            int[] count = {0};
            cuDeviceGetCount(count);
            if (count[0] <= ordinal) {
                return new Probe(false, null, 0, "the CUDA driver sees " + count[0] + " device(s), device " + ordinal + " is absent");
            }
            CUdevice d = new CUdevice();
            cuDeviceGet(d, ordinal);
            byte[] nameBytes = new byte[256];
            cuDeviceGetName(nameBytes, nameBytes.length, d);
            int len = 0;
            while (len < nameBytes.length && nameBytes[len] != 0) len++;
            long[] total = {0};
            cuDeviceTotalMem(total, d);
            return new Probe(true, new String(nameBytes, 0, len, StandardCharsets.US_ASCII), total[0], "found");
        } catch (Throwable e) {
            // UnsatisfiedLinkError (no libcuda), CudaException (no device, driver too old) and the like
            String why = String.valueOf(e.getMessage()).lines().findFirst().orElse("");
            return new Probe(false, null, 0, "no usable CUDA driver or device (" + e.getClass().getSimpleName() + ": " + why + ")");
        }
    }

    private static synchronized void initDriver() {
        JCudaDriver.setExceptionsEnabled(true);
        int r = cuInit(0);
        if (r != CUresult.CUDA_SUCCESS) {
            throw new IllegalStateException("cuInit failed: " + CUresult.stringFor(r));
        }
    }

    /** Binds this context to the calling thread; every public entry point of the backend calls it first. */
    public void makeCurrent() {
        checkOpen();
        cuCtxSetCurrent(context);
    }

    public void synchronize() {
        makeCurrent();
        cuCtxSynchronize();
    }

    public String deviceName() {
        return name;
    }

    public int ordinal() {
        return ordinal;
    }

    public long totalBytes() {
        return totalBytes;
    }

    /** Free device bytes as the driver reports them now. */
    public long freeBytes() {
        makeCurrent();
        long[] free = {0};
        long[] total = {0};
        cuMemGetInfo(free, total);
        return free[0];
    }

    @Override
    void release() {
        cuCtxDestroy(context);
    }
}
