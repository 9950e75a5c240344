package dev.freshet.trainer.cuda.internal;

import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;

import static jcuda.driver.JCudaDriver.cuCtxGetStreamPriorityRange;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamCreateWithPriority;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;
import static jcuda.driver.JCudaDriver.cuStreamWaitEvent;

/** A non-blocking stream: work on it does not wait for the legacy default stream. */
public final class CudaStream extends CudaResource {
    private final CUstream stream = new CUstream();

    public CudaStream(String name) {
        this(name, false);
    }

    /**
     * @param highPriority blocks of this stream's kernels are scheduled before waiting blocks of normal
     *                     streams (for short, latency-bound work that must overlap long kernels)
     */
    public CudaStream(String name, boolean highPriority) {
        super("CUDA stream " + name);
        if (highPriority) {
            int[] least = {0}, greatest = {0};
            cuCtxGetStreamPriorityRange(least, greatest);
            cuStreamCreateWithPriority(stream, CUstream_flags.CU_STREAM_NON_BLOCKING, greatest[0]);
        } else {
            cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING);
        }
    }

    public CUstream handle() {
        checkOpen();
        return stream;
    }

    public void synchronize() {
        cuStreamSynchronize(handle());
    }

    /** Work queued on this stream after this call waits until {@code event} has completed. */
    public void waitFor(CudaEvent event) {
        cuStreamWaitEvent(handle(), event.handle(), 0);
    }

    @Override
    void release() {
        cuStreamDestroy(stream);
    }
}
