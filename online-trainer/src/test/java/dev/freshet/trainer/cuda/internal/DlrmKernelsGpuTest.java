package dev.freshet.trainer.cuda.internal;

import dev.freshet.trainer.model.Bf16;
import jcuda.Pointer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The GEMM kernels against a float64 reference on fresh random inputs of odd sizes (partial tiles),
 * every layout and epilogue, fp32 (SIMT) and bf16 (tensor cores; the reference rounds the operands
 * to bf16 too, so both compute the same function). The output is poisoned with NaN first, so an
 * element the kernel does not write fails.
 */
@Tag("gpu")
class DlrmKernelsGpuTest {
    private static CudaContext context;
    private static DlrmKernels kernels;
    private static CudaStream stream;

    private static CudaContext.Probe probe;

    @BeforeAll
    static void open() {
        probe = CudaContext.probe(0);
        if (!probe.available()) {
            System.out.println("GPU tests skipped: no CUDA GPU here (" + probe.reason() + ")");
            return;
        }
        context = new CudaContext(0);
        kernels = new DlrmKernels();
        stream = new CudaStream("test");
    }

    /** Per test, so that every test reports itself skipped, with the reason. */
    @BeforeEach
    void requireGpu() {
        Assumptions.assumeTrue(probe.available(), "skipped: no CUDA GPU here (" + probe.reason() + ")");
    }

    @AfterAll
    static void close() {
        if (stream != null) stream.close();
        if (kernels != null) kernels.close();
        if (context != null) context.close();
    }

    @ParameterizedTest(name = "{0} bf16={1} simt={8} M={2} N={3} K={4} bias/relu={5} mask={6} atomic={7}")
    @CsvSource({
            "NT, false, 67, 130, 45, true, false, false, SMALL",
            "NT, false, 67, 130, 45, true, false, false, LARGE",
            "NT, true, 67, 130, 45, true, false, false, AUTO",
            "NT, false, 300, 1, 479, true, false, false, SMALL",
            "NT, false, 300, 1, 479, true, false, false, LARGE",
            "NT, true, 300, 1, 479, true, false, false, AUTO",
            "NN, false, 129, 70, 33, false, true, false, SMALL",
            "NN, false, 129, 70, 33, false, true, false, LARGE",
            "NN, true, 129, 70, 33, false, true, false, AUTO",
            "TN, false, 70, 45, 5000, false, false, true, SMALL",
            "TN, false, 70, 45, 5000, false, false, true, LARGE",
            "TN, true, 70, 45, 5000, false, false, true, AUTO",
            "TN, false, 1, 256, 3000, false, false, true, LARGE",
            "TN, true, 1, 256, 3000, false, false, true, AUTO",
            "NT, false, 1000, 300, 13, true, false, false, LARGE",
            "NT, true, 1000, 300, 13, true, false, false, AUTO",
            // aligned shapes: whole 128x128 tiles take the vector-load path, the edge tiles the element-wise one
            "NT, false, 300, 260, 96, true, false, false, LARGE",
            "NT, true, 300, 260, 96, true, false, false, AUTO",
            "NN, false, 260, 384, 64, false, true, false, LARGE",
            "NN, true, 260, 384, 64, false, true, false, AUTO",
            "TN, false, 256, 132, 5000, false, false, true, LARGE",
            "TN, true, 256, 132, 5000, false, false, true, AUTO",
    })
    void gemmMatchesReference(DlrmKernels.GemmKind kind, boolean bf16, int m, int n, int k, boolean biasRelu, boolean mask,
                              boolean atomic, DlrmKernels.SimtTile simt) {
        context.makeCurrent();
        SplittableRandom r = new SplittableRandom(m * 31L + n * 7L + k + (bf16 ? 1 : 0));
        // stored shapes: A is [m, k] (or [k, m] for TN), B is [n, k] for NT, [k, n] otherwise
        float[] a = random(r, m * k), b = random(r, n * k), bias = random(r, n), maskValues = random(r, m * n);
        int lda = kind == DlrmKernels.GemmKind.TN ? m : k;
        int ldb = kind == DlrmKernels.GemmKind.NT ? k : n;
        double[] want = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int q = 0; q < k; q++) {
                    float av = kind == DlrmKernels.GemmKind.TN ? a[q * lda + i] : a[i * lda + q];
                    float bv = kind == DlrmKernels.GemmKind.NT ? b[j * ldb + q] : b[q * ldb + j];
                    if (bf16) {
                        av = Bf16.round(av);
                        bv = Bf16.round(bv);
                    }
                    s += (double) av * bv;
                }
                if (biasRelu) s = Math.max(0, s + bias[j]);
                if (mask && !(maskValues[i * n + j] > 0)) s = 0;
                want[i * n + j] = s;
            }
        }
        try (DeviceBuffer da = upload(a); DeviceBuffer db = upload(b); DeviceBuffer dbias = upload(bias);
             DeviceBuffer dmask = upload(maskValues); DeviceBuffer dc = DeviceBuffer.floats("c", (long) m * n)) {
            float[] init = new float[m * n];
            Arrays.fill(init, atomic ? 0f : Float.NaN);
            try (DeviceBuffer tmp = upload(init)) {
                jcuda.driver.JCudaDriver.cuMemcpyDtoD(dc.ptr(), tmp.ptr(), (long) m * n * 4);
            }
            kernels.gemm(bf16, kind, m, n, k, da.ptr(), lda, db.ptr(), ldb, dc.ptr(), n, biasRelu ? dbias.ptr() : null, biasRelu,
                    mask ? dmask.ptr() : null, n, atomic, simt, stream);
            stream.synchronize();
            float[] got = new float[m * n];
            jcuda.driver.JCudaDriver.cuMemcpyDtoH(Pointer.to(got), dc.ptr(), (long) m * n * 4);
            double diff = 0, norm = 0;
            for (int i = 0; i < m * n; i++) {
                assertTrue(Float.isFinite(got[i]), "element " + i + " not written (or not finite): " + got[i]);
                diff += (got[i] - want[i]) * (got[i] - want[i]);
                norm += want[i] * want[i];
            }
            double rel = Math.sqrt(diff / norm);
            System.out.printf("gemm %s bf16=%s simt=%s %dx%dx%d: relative error %.2e%n", kind, bf16, simt, m, n, k, rel);
            assertTrue(rel <= 1e-5, "relative error " + rel);
        }
    }

    private static float[] random(SplittableRandom r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextDouble() * 2 - 1);
        return v;
    }

    private static DeviceBuffer upload(float[] v) {
        DeviceBuffer d = DeviceBuffer.floats("input", v.length);
        jcuda.driver.JCudaDriver.cuMemcpyHtoD(d.ptr(), Pointer.to(v), (long) v.length * 4);
        return d;
    }
}
