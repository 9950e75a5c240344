package dev.freshet.trainer.cuda.internal;

import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUstreamCaptureMode;

import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;

/**
 * A captured and instantiated CUDA graph: the whole training step (some forty kernels and memsets)
 * replayed with one launch, which removes the per-kernel launch cost that dominates small batches.
 */
public final class CudaGraph extends CudaResource {
    private final CUgraph graph = new CUgraph();
    private final CUgraphExec exec = new CUgraphExec();

    /** Captures what {@code work} queues on {@code stream} (nothing runs during capture). */
    public CudaGraph(String name, CudaStream stream, Runnable work) {
        super("CUDA graph " + name);
        cuStreamBeginCapture(stream.handle(), CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
        try {
            work.run();
        } catch (RuntimeException e) {
            CUgraph broken = new CUgraph();
            try {
                cuStreamEndCapture(stream.handle(), broken);
                cuGraphDestroy(broken);
            } catch (RuntimeException ignored) {
                // the capture is already invalid; the original error says why
            }
            throw e;
        }
        cuStreamEndCapture(stream.handle(), graph);
        cuGraphInstantiate(exec, graph, 0);
    }

    public void launch(CudaStream stream) {
        checkOpen();
        cuGraphLaunch(exec, stream.handle());
    }

    @Override
    void release() {
        cuGraphExecDestroy(exec);
        cuGraphDestroy(graph);
    }
}
