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
            // a dimension of 1 (the last top layer): AUTO takes the dedicated kernels, SMALL/LARGE the tiles
            "NT, false, 300, 1, 479, true, false, false, AUTO",
            "TN, false, 1, 256, 3000, false, false, true, AUTO",
            // weight gradients of at most 16 columns: AUTO takes gemm_tn_skinny (rows past 512 too)
            "TN, false, 512, 16, 5000, false, false, true, AUTO",
            "TN, true, 700, 13, 3001, false, false, true, AUTO",
            "TN, false, 70, 20, 5000, false, false, true, AUTO",  // narrow: 64x64 tiles, many splits
            "NN, false, 300, 256, 1, false, true, false, AUTO",
            "NN, true, 300, 256, 1, false, true, false, AUTO",
            "NN, false, 300, 256, 1, false, true, false, LARGE",
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
            // aligned shapes: whole 128x128 tiles take the vector-load path, and so do edge tiles where M and N
            // are multiples of 4 (vectors outside the matrix load zeros); N = 130 keeps its edge element-wise
            "NT, false, 300, 130, 96, true, false, false, LARGE",
            "NT, true, 300, 130, 96, true, false, false, AUTO",
            "NT, false, 300, 260, 96, true, false, false, LARGE",
            "NT, true, 300, 260, 96, true, false, false, AUTO",
            "NN, false, 260, 384, 64, false, true, false, LARGE",
            "NN, true, 260, 384, 64, false, true, false, AUTO",
            "TN, false, 256, 132, 5000, false, false, true, LARGE",
            "TN, true, 256, 132, 5000, false, false, true, AUTO",
            // fp32 weight gradients on the 128x128 kernel sum the bias gradient in the kernel: AUTO picks it, and K
            // not a multiple of the 8-deep slice leaves a partial last slice (element-wise path)
            "TN, false, 256, 132, 5000, false, false, true, AUTO",
            "TN, false, 300, 260, 4999, false, false, true, AUTO",
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
            String what = String.format("gemm %s bf16=%s simt=%s %dx%dx%d", kind, bf16, simt, m, n, k);
            if (kind == DlrmKernels.GemmKind.TN && atomic) {
                // a weight gradient comes with its bias gradient: the column sums of A, added into a non-zero db
                // (fused into the fp32 128x128 kernel, else a col_sum pass; bf16 sums bf16-rounded summands)
                float[] db0 = random(r, m);
                double[] wantSums = new double[m];
                for (int i = 0; i < m; i++) {
                    double s = db0[i];
                    for (int q = 0; q < k; q++) s += bf16 ? Bf16.round(a[q * lda + i]) : a[q * lda + i];
                    wantSums[i] = s;
                }
                try (DeviceBuffer dsum = upload(db0)) {
                    kernels.weightGradient(bf16, m, n, k, da.ptr(), db.ptr(), ldb, dc.ptr(), n, dsum.ptr(), simt, stream);
                    stream.synchronize();
                    assertClose(what + " bias gradient", download(dsum, m), wantSums, 1e-5);
                }
            } else {
                kernels.gemm(bf16, kind, m, n, k, da.ptr(), lda, db.ptr(), ldb, dc.ptr(), n, biasRelu ? dbias.ptr() : null, biasRelu,
                        mask ? dmask.ptr() : null, n, atomic, simt, null, stream);
                stream.synchronize();
            }
            assertClose(what, download(dc, m * n), want, 1e-5);
        }
    }

    /**
     * The interaction forward and backward against float64: the warp-per-example kernels for 128-float rows
     * (8, 16 and 32 vectors, including exactly 32) and the shared-memory kernels for other widths, with an
     * odd and a padded leading dimension of R. Many lookups share a distinct row, so row gradients collide
     * in the atomics. R's padding column must stay unwritten (the top MLP relies on it staying zero).
     */
    @ParameterizedTest(name = "tables={0} dim={1} padded={2} relu mask={3}")
    @CsvSource({
            "3, 128, false, true",
            "12, 128, true, false",
            "26, 128, false, true",
            "26, 128, true, true",
            "31, 128, true, false",
            "26, 16, true, true",
            "5, 24, false, false",
    })
    void interactionMatchesReference(int tables, int dim, boolean padded, boolean maskRelu) {
        context.makeCurrent();
        SplittableRandom r = new SplittableRandom(tables * 1009L + dim * 31L + (padded ? 7 : 0));
        int batch = 67, f = tables + 1, pairs = f * (f - 1) / 2, width = dim + pairs;
        int ldr = padded ? (width + 3) / 4 * 4 + 4 : width;  // padded: beyond the next multiple of 4 too
        int distinct = 40, physical = 97;
        float[] x = random(r, batch * dim), table = random(r, physical * dim), dR = random(r, batch * ldr);
        int[] uniqueRows = r.ints(0, physical).distinct().limit(distinct).toArray();
        int[] inv = r.ints((long) batch * tables, 0, distinct).toArray();

        double[] wantR = new double[batch * width], wantDx = new double[batch * dim], wantGrad = new double[distinct * dim];
        for (int b = 0; b < batch; b++) {
            double[][] v = new double[f][dim];
            for (int d = 0; d < dim; d++) v[0][d] = x[b * dim + d];
            for (int t = 0; t < tables; t++) {
                for (int d = 0; d < dim; d++) v[t + 1][d] = table[uniqueRows[inv[b * tables + t]] * dim + d];
            }
            double[][] g = new double[f][f];
            for (int i = 1, p = 0; i < f; i++) {
                for (int j = 0; j < i; j++, p++) {
                    double dot = 0;
                    for (int d = 0; d < dim; d++) dot += v[i][d] * v[j][d];
                    wantR[b * width + dim + p] = dot;
                    g[i][j] = g[j][i] = dR[b * ldr + dim + p];
                }
            }
            for (int d = 0; d < dim; d++) wantR[b * width + d] = x[b * dim + d];
            for (int i = 0; i < f; i++) {
                for (int d = 0; d < dim; d++) {
                    double s = 0;
                    for (int j = 0; j < f; j++) s += g[i][j] * v[j][d];
                    if (i == 0) {
                        wantDx[b * dim + d] = maskRelu && !(x[b * dim + d] > 0) ? 0 : dR[b * ldr + d] + s;
                    } else {
                        wantGrad[inv[b * tables + i - 1] * dim + d] += s;
                    }
                }
            }
        }
        float[] poison = new float[batch * ldr];
        Arrays.fill(poison, Float.NaN);
        try (DeviceBuffer dx = upload(x); DeviceBuffer dTable = upload(table); DeviceBuffer ddR = upload(dR);
             DeviceBuffer dRows = uploadInts(uniqueRows); DeviceBuffer dInv = uploadInts(inv); DeviceBuffer dOut = upload(poison);
             DeviceBuffer dDx = DeviceBuffer.floats("dx", (long) batch * dim); DeviceBuffer dGrad = upload(new float[distinct * dim])) {
            kernels.interactForward(batch, tables, dim, dx.ptr(), dTable.ptr(), dInv.ptr(), dRows.ptr(), dOut.ptr(), ldr, stream);
            kernels.interactBackward(batch, tables, dim, dx.ptr(), dTable.ptr(), dInv.ptr(), dRows.ptr(), ddR.ptr(), ldr, maskRelu,
                    dDx.ptr(), dGrad.ptr(), stream);
            stream.synchronize();
            float[] out = download(dOut, batch * ldr), gotDx = download(dDx, batch * dim), gotGrad = download(dGrad, distinct * dim);
            float[] gotR = new float[batch * width];
            for (int b = 0; b < batch; b++) {
                System.arraycopy(out, b * ldr, gotR, b * width, width);
                for (int c = width; c < ldr; c++) assertTrue(Float.isNaN(out[b * ldr + c]), "padding column " + c + " of R written");
            }
            String what = String.format("interaction tables=%d dim=%d ldr=%d", tables, dim, ldr);
            assertClose(what + " forward R", gotR, wantR, 1e-5);
            assertClose(what + " backward dx", gotDx, wantDx, 1e-5);
            assertClose(what + " backward row gradients", gotGrad, wantGrad, 1e-5);
        }
    }

    private static void assertClose(String what, float[] got, double[] want, double tolerance) {
        double diff = 0, norm = 0;
        for (int i = 0; i < got.length; i++) {
            assertTrue(Float.isFinite(got[i]), what + ": element " + i + " not written (or not finite): " + got[i]);
            diff += (got[i] - want[i]) * (got[i] - want[i]);
            norm += want[i] * want[i];
        }
        double rel = Math.sqrt(diff / norm);
        System.out.printf("%s: relative error %.2e%n", what, rel);
        assertTrue(rel <= tolerance, what + ": relative error " + rel + " above " + tolerance);
    }

    private static float[] download(DeviceBuffer d, int n) {
        float[] v = new float[n];
        jcuda.driver.JCudaDriver.cuMemcpyDtoH(Pointer.to(v), d.ptr(), (long) n * 4);
        return v;
    }

    private static DeviceBuffer uploadInts(int[] v) {
        DeviceBuffer d = DeviceBuffer.ints("input", v.length);
        jcuda.driver.JCudaDriver.cuMemcpyHtoD(d.ptr(), Pointer.to(v), (long) v.length * 4);
        return d;
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
