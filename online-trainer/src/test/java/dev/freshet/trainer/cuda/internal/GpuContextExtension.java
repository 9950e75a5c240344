package dev.freshet.trainer.cuda.internal;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * One CUDA context on device 0 for a test class: opened before its tests, current on each test's thread,
 * closed after them. Where no GPU is found every test reports itself skipped, with the reason.
 * <pre>@RegisterExtension static final GpuContextExtension gpu = new GpuContextExtension();</pre>
 */
final class GpuContextExtension implements BeforeAllCallback, BeforeEachCallback, AfterAllCallback {
    private CudaContext.Probe probe;
    private CudaContext context;

    @Override
    public void beforeAll(ExtensionContext extension) {
        probe = CudaContext.probe(0);
        if (probe.available()) context = new CudaContext(0);
    }

    @Override
    public void beforeEach(ExtensionContext extension) {
        Assumptions.assumeTrue(probe.available(), "skipped: no CUDA GPU here (" + probe.reason() + ")");
        context.makeCurrent();
    }

    @Override
    public void afterAll(ExtensionContext extension) {
        if (context != null) context.close();
        context = null;
    }
}
