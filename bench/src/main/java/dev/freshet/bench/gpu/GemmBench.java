package dev.freshet.bench.gpu;

import dev.freshet.trainer.cuda.internal.CudaContext;
import dev.freshet.trainer.cuda.internal.CudaEvent;
import dev.freshet.trainer.cuda.internal.CudaStream;
import dev.freshet.trainer.cuda.internal.DeviceBuffer;
import dev.freshet.trainer.cuda.internal.DlrmKernels;
import dev.freshet.trainer.cuda.internal.DlrmKernels.GemmKind;

import java.util.Locale;

/**
 * TFLOP/s of the trainer's own GEMM kernels on the MLP shapes of kaggle128 (top layer 1024 -> 1024 and
 * 479 -> 1024 at batch 65536 and 2048), fp32 and bf16, each 128x128 kernel built for one or for two
 * blocks per multiprocessor: the figures behind DlrmKernels' defaults. Random inputs; 3 warm-up runs,
 * then the median of 10 timed with events. {@code --shapes NT:65536x512x16,TN:512x16x65536} times other
 * shapes ({@code kind:MxNxK}) instead, with the two-blocks build only.
 */
public final class GemmBench {
    private GemmBench() {
    }

    public static void main(String[] args) {
        int[][] shapes = { // kind, M, N, K
                {0, 65536, 1024, 1024}, {1, 65536, 1024, 1024}, {2, 1024, 1024, 65536},
                {0, 65536, 1024, 479}, {1, 65536, 479, 1024}, {2, 1024, 479, 65536},
                {0, 2048, 1024, 1024}, {1, 2048, 1024, 1024}, {2, 1024, 1024, 2048},
        };
        boolean[] builds = {false, true};
        if (args.length == 2 && args[0].equals("--shapes")) {
            shapes = java.util.Arrays.stream(args[1].split(",")).map(GemmBench::shape).toArray(int[][]::new);
            builds = new boolean[]{true};
        } else if (args.length != 0) {
            throw new IllegalArgumentException("usage: GemmBench [--shapes KIND:MxNxK,...] (KIND NT, NN or TN), got " + String.join(" ", args));
        }
        try (CudaContext ctx = new CudaContext(0); CudaStream s = new CudaStream("gemm bench")) {
            System.out.println("gemm bench on " + ctx.deviceName());
            for (boolean two : builds) {
                try (DlrmKernels k = new DlrmKernels(two)) {
                    for (int[] sh : shapes) {
                        for (boolean bf16 : new boolean[]{false, true}) {
                            GemmKind kind = GemmKind.values()[sh[0]];
                            double ms = time(k, s, kind, bf16, sh[1], sh[2], sh[3]);
                            double tflops = 2.0 * sh[1] * sh[2] * sh[3] / (ms * 1e-3) / 1e12;
                            System.out.printf(Locale.ROOT, "gemm %s %-4s blocks/SM %d  M=%6d N=%5d K=%6d  %8.3f ms  %6.1f TFLOP/s%n",
                                    kind, bf16 ? "bf16" : "fp32", two ? 2 : 1, sh[1], sh[2], sh[3], ms, tflops);
                        }
                    }
                }
            }
        }
    }

    private static int[] shape(String spec) {
        String[] kindAndDims = spec.split(":");
        String[] dims = kindAndDims.length == 2 ? kindAndDims[1].split("x") : new String[0];
        if (dims.length != 3) throw new IllegalArgumentException("shape '" + spec + "' is not KIND:MxNxK, e.g. NT:65536x512x16");
        return new int[]{GemmKind.valueOf(kindAndDims[0]).ordinal(), Integer.parseInt(dims[0]), Integer.parseInt(dims[1]),
                Integer.parseInt(dims[2])};
    }

    private static double time(DlrmKernels k, CudaStream s, GemmKind kind, boolean bf16, int m, int n, int kk) {
        long aCount = (long) m * kk, bCount = (long) kk * n, cCount = (long) m * n;
        try (DeviceBuffer a = DeviceBuffer.floats("a", aCount); DeviceBuffer b = DeviceBuffer.floats("b", bCount);
             DeviceBuffer c = DeviceBuffer.floats("c", cCount); DeviceBuffer bias = DeviceBuffer.floats("bias", n)) {
            k.fillUniform(aCount, a.ptr(), 1, 1f, s);
            k.fillUniform(bCount, b.ptr(), 2, 1f, s);
            k.fillUniform(n, bias.ptr(), 3, 1f, s);
            boolean atomic = kind == GemmKind.TN;
            // stored layouts as DeviceModel uses them: NT A[m,k] W[n,k]; NN A[m,k] W[k,n]; TN A[k,m] X[k,n]
            int lda = kind == GemmKind.TN ? m : kk;
            int ldb = kind == GemmKind.NT ? kk : n;
            double[] ms = new double[10];
            for (int r = 0; r < 13; r++) {
                if (atomic) c.fill32(0, cCount, s);
                try (CudaEvent e0 = new CudaEvent("e0", true); CudaEvent e1 = new CudaEvent("e1", true)) {
                    e0.record(s);
                    k.gemm(bf16, kind, m, n, kk, a.ptr(), lda, b.ptr(), ldb, c.ptr(), n, atomic ? null : bias.ptr(), !atomic,
                            null, 0, atomic, s);
                    e1.record(s);
                    e1.synchronize();
                    if (r >= 3) ms[r - 3] = e1.millisSince(e0);
                }
            }
            java.util.Arrays.sort(ms);
            return (ms[4] + ms[5]) / 2;
        }
    }
}
