package dev.freshet.trainer.cuda.internal;

import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;

/** A CUDA event, for ordering streams and for device-side timing. */
public final class CudaEvent extends CudaResource {
    private final CUevent event = new CUevent();

    public CudaEvent(String name, boolean timing) {
        super("CUDA event " + name);
        cuEventCreate(event, timing ? CUevent_flags.CU_EVENT_DEFAULT : CUevent_flags.CU_EVENT_DISABLE_TIMING);
    }

    public CUevent handle() {
        checkOpen();
        return event;
    }

    public void record(CudaStream stream) {
        cuEventRecord(handle(), stream.handle());
    }

    public void synchronize() {
        cuEventSynchronize(handle());
    }

    /** Milliseconds from {@code start} to this event (both recorded with timing). */
    public float millisSince(CudaEvent start) {
        float[] ms = {0};
        cuEventElapsedTime(ms, start.handle(), handle());
        return ms[0];
    }

    @Override
    void release() {
        cuEventDestroy(event);
    }
}
