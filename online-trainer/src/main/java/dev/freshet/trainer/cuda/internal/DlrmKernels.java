package dev.freshet.trainer.cuda.internal;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;

/**
 * The module of DlrmKernels.cu (PTX from resources, JIT-compiled by the driver for the device at hand)
 * and one typed launcher per kernel, so that parameter order and types are checked in one place.
 */
public final class DlrmKernels extends CudaResource {
    /** Two blocks on each of an H200's 132 multiprocessors: the grid size worth filling. */
    private static final int TARGET_BLOCKS = 264;
    private static final int MULTIPROCESSORS = 132;
    /**
     * The cache's victim sweep aims to cover a plan's misses within this many times as many slots ahead of its
     * hand (cache_sweep in DlrmKernels.cu): it lowers its count threshold while the cold slots it meets are dense
     * enough for that, and raises it when they are not.
     */
    private static final int SWEEP_BUDGET = 16;
    private static final int SWAP_THREADS = 1024;
    private static final CUdeviceptr NULL = new CUdeviceptr();

    private final CUmodule module = new CUmodule();
    /** Indexed by {@link GemmKind#ordinal()}. */
    private final CUfunction[] sgemm, sgemmLarge, hgemm;
    private final boolean twoBlocksPerSm;
    private final CUfunction colSum, dedupRows, interactFwd, interactBwd, bceLoss, embUpdate, denseUpdate;
    /** The interaction for rows of 128 floats, one warp per example, for at most 8, 16 and 32 vectors. */
    private final CUfunction[] interact128Fwd = new CUfunction[3], interact128Bwd = new CUfunction[3];
    private final CUfunction cacheSwap, cachePack, cacheUnpack, cacheFlush, fillUniform, copyMatrix;
    /** GEMMs with a dimension of 1: N (forward), M (weight gradient), K (input gradient); weight gradients of at most 16 columns. */
    private final CUfunction gemvN1, gemvM1, outerK1, gemmTnSkinny;
    private final CUfunction cacheLookup, cacheSweep, cacheInstall, cacheAssignMisses, cacheAge, cacheAddCounts;

    /** Examples (warps) per block of the interaction kernels for 128-float rows (I128_WARPS in DlrmKernels.cu). */
    private static final int INTERACT128_WARPS = 4;

    /** Operand order of a GEMM, see DlrmKernels.cu. */
    public enum GemmKind { NT, NN, TN }

    /** Which fp32 kernel: 64x64 tiles (small grids), 128x128 tiles (large grids), or chosen by size. */
    enum SimtTile { AUTO, SMALL, LARGE }

    public DlrmKernels() {
        this(true);
    }

    /**
     * @param twoBlocksPerSm use the 128x128 GEMMs compiled for two blocks per multiprocessor (register
     *                       cap 128) rather than one
     */
    public DlrmKernels(boolean twoBlocksPerSm) {
        super("CUDA module DlrmKernels");
        this.twoBlocksPerSm = twoBlocksPerSm;
        byte[] ptx = readPtx();
        cuModuleLoadData(module, ptx);
        String o = twoBlocksPerSm ? "2" : "";
        sgemm = gemms("sgemm_");
        sgemmLarge = gemms("sgemm_large" + o + "_");
        hgemm = gemms("hgemm" + o + "_");
        colSum = function("col_sum");
        dedupRows = function("dedup_rows");
        interactFwd = function("interact_fwd");
        interactBwd = function("interact_bwd");
        for (int i = 0; i < 3; i++) {
            interact128Fwd[i] = function("interact128_fwd_f" + (8 << i));
            interact128Bwd[i] = function("interact128_bwd_f" + (8 << i));
        }
        bceLoss = function("bce_loss");
        embUpdate = function("emb_update");
        denseUpdate = function("dense_update");
        cacheSwap = function("cache_swap");
        cachePack = function("cache_pack");
        cacheUnpack = function("cache_unpack");
        cacheFlush = function("cache_flush");
        fillUniform = function("fill_uniform");
        copyMatrix = function("copy_matrix");
        gemvN1 = function("gemv_n1");
        gemvM1 = function("gemv_m1");
        outerK1 = function("outer_k1");
        gemmTnSkinny = function("gemm_tn_skinny");
        cacheLookup = function("cache_lookup");
        cacheSweep = function("cache_sweep");
        cacheInstall = function("cache_install");
        cacheAssignMisses = function("cache_assign_misses");
        cacheAge = function("cache_age");
        cacheAddCounts = function("cache_add_counts");
    }

    private static byte[] readPtx() {
        String resource = "DlrmKernels.ptx";
        try (InputStream in = DlrmKernels.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("kernel resource " + DlrmKernels.class.getPackageName() + "/" + resource
                        + " is missing from the classpath. Fix: rebuild online-trainer (the PTX is committed beside DlrmKernels.cu)");
            }
            byte[] text = in.readAllBytes();
            byte[] zeroTerminated = new byte[text.length + 1];
            System.arraycopy(text, 0, zeroTerminated, 0, text.length);
            return zeroTerminated;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read kernel resource " + resource, e);
        }
    }

    private CUfunction[] gemms(String prefix) {
        CUfunction[] f = new CUfunction[GemmKind.values().length];
        for (GemmKind k : GemmKind.values()) f[k.ordinal()] = function(prefix + k.name().toLowerCase(java.util.Locale.ROOT));
        return f;
    }

    public boolean twoBlocksPerSm() {
        return twoBlocksPerSm;
    }

    private CUfunction function(String name) {
        CUfunction f = new CUfunction();
        cuModuleGetFunction(f, module, name);
        return f;
    }

    private void launch(CUfunction f, int gx, int gy, int gz, int block, int sharedBytes, CudaStream stream, Object... args) {
        checkOpen();
        if (gx <= 0 || gy <= 0 || gz <= 0) return;
        Pointer[] params = new Pointer[args.length];
        for (int i = 0; i < args.length; i++) {
            Object a = args[i];
            if (a instanceof CUdeviceptr p) params[i] = Pointer.to(p);
            else if (a instanceof Integer v) params[i] = Pointer.to(new int[]{v});
            else if (a instanceof Float v) params[i] = Pointer.to(new float[]{v});
            else if (a instanceof Long v) params[i] = Pointer.to(new long[]{v});
            else if (a == null) params[i] = Pointer.to(NULL);
            else throw new IllegalArgumentException("unsupported kernel parameter type " + a.getClass());
        }
        cuLaunchKernel(f, gx, gy, gz, block, 1, 1, sharedBytes, stream.handle(), Pointer.to(params), null);
    }

    /**
     * C[M,N] = epilogue(op(A) op(B)); see DlrmKernels.cu for the operand layouts. With {@code atomicOut} the
     * product is split over K and added into C, which must be zeroed first; bias, relu and mask must then be off.
     */
    public void gemm(boolean bf16, GemmKind kind, int m, int n, int k, CUdeviceptr a, int lda, CUdeviceptr b, int ldb,
                     CUdeviceptr c, int ldc, CUdeviceptr bias, boolean relu, CUdeviceptr mask, int ldmask,
                     boolean atomicOut, CudaStream stream) {
        gemm(bf16, kind, m, n, k, a, lda, b, ldb, c, ldc, bias, relu, mask, ldmask, atomicOut, SimtTile.AUTO, null, stream);
    }

    /**
     * A layer's weight and bias gradients: dW[m, n] += sum_k dY[k, m] x[k, n] (TN, split over K; dW zeroed first)
     * and db[m] += sum_k dY[k, m], dY in rows of exactly m floats. The fp32 128x128 kernel sums db from the dY
     * tiles it loads anyway; every other kernel leaves db to a col_sum pass after it.
     */
    public void weightGradient(boolean bf16, int m, int n, int k, CUdeviceptr dY, CUdeviceptr x, int ldx, CUdeviceptr dW, int ldw,
                               CUdeviceptr db, CudaStream stream) {
        weightGradient(bf16, m, n, k, dY, x, ldx, dW, ldw, db, SimtTile.AUTO, stream);
    }

    void weightGradient(boolean bf16, int m, int n, int k, CUdeviceptr dY, CUdeviceptr x, int ldx, CUdeviceptr dW, int ldw,
                        CUdeviceptr db, SimtTile simt, CudaStream stream) {
        if (!gemm(bf16, GemmKind.TN, m, n, k, dY, m, x, ldx, dW, ldw, null, false, null, 0, true, simt, db, stream)) {
            colSum(k, m, dY, db, bf16, stream);
        }
    }

    /** Returns whether the kernel also added the column sums of A into {@code sumA} (when not null). */
    boolean gemm(boolean bf16, GemmKind kind, int m, int n, int k, CUdeviceptr a, int lda, CUdeviceptr b, int ldb,
                 CUdeviceptr c, int ldc, CUdeviceptr bias, boolean relu, CUdeviceptr mask, int ldmask,
                 boolean atomicOut, SimtTile simt, CUdeviceptr sumA, CudaStream stream) {
        if (simt == SimtTile.AUTO && degenerate(bf16, kind, m, n, k, a, lda, b, ldb, c, ldc, bias, relu, mask, ldmask, atomicOut, stream)) {
            return false;
        }
        // fp32: the 128x128 kernel does twice the work per loaded byte but needs a grid that fills the GPU
        // (a weight gradient always can, split over the batch), and wastes most of its tile where M or N is
        // narrow (M or N at most 64; the narrowest, at most 16 columns, take gemm_tn_skinny)
        boolean narrow = Math.min(m, n) <= 64;
        boolean large = !bf16 && (simt == SimtTile.LARGE || (simt == SimtTile.AUTO
                && ((atomicOut && !narrow) || (long) ceilDiv(m, 128) * ceilDiv(n, 128) >= TARGET_BLOCKS / 2)));
        int tile = bf16 || large ? 128 : 64;
        int tileK = bf16 ? 32 : large ? 8 : 16;
        int tilesM = ceilDiv(m, tile), tilesN = ceilDiv(n, tile);
        int wave = MULTIPROCESSORS * (bf16 || large ? (twoBlocksPerSm ? 2 : 1) : 2);
        int splits = atomicOut ? splitsFor(tilesM * tilesN, k, wave) : 1;
        int kPerSplit = ceilDiv(ceilDiv(k, splits), tileK) * tileK;
        splits = ceilDiv(k, kPerSplit);
        CUfunction f = (bf16 ? hgemm : large ? sgemmLarge : sgemm)[kind.ordinal()];
        boolean sums = sumA != null && large && kind == GemmKind.TN;
        launch(f, tilesN, tilesM, splits, 256, 0, stream, m, n, k, a, lda, b, ldb, c, ldc, bias, relu ? 1 : 0, mask,
                ldmask, atomicOut ? 1 : 0, kPerSplit, sums ? sumA : null);
        return sums;
    }

    /** Columns of the widest weight gradient gemm_tn_skinny takes (SKINNY_N), rows per thread (SKINNY_ROWS), K slice (SKINNY_BK). */
    private static final int SKINNY_N = 16, SKINNY_ROWS = 2, SKINNY_BK = 32;

    /**
     * Launches a kernel for a GEMM with a dimension of 1, or for a weight gradient of at most 16 columns, if it
     * is one (see DlrmKernels.cu); false otherwise.
     */
    private boolean degenerate(boolean bf16, GemmKind kind, int m, int n, int k, CUdeviceptr a, int lda, CUdeviceptr b, int ldb,
                               CUdeviceptr c, int ldc, CUdeviceptr bias, boolean relu, CUdeviceptr mask, int ldmask,
                               boolean atomicOut, CudaStream stream) {
        int round = bf16 ? 1 : 0;
        if (kind == GemmKind.NT && n == 1) {
            launch(gemvN1, ceilDiv(m, 8), 1, 1, 256, 0, stream, m, k, a, lda, b, c, ldc, bias, relu ? 1 : 0, mask, ldmask,
                    atomicOut ? 1 : 0, round);
            return true;
        }
        if (kind == GemmKind.TN && m == 1 && atomicOut) {
            int kPerBlock = 512;
            launch(gemvM1, ceilDiv(n, 256), ceilDiv(k, kPerBlock), 1, 256, 0, stream, n, k, a, lda, b, ldb, c, kPerBlock, round);
            return true;
        }
        if (kind == GemmKind.TN && n <= SKINNY_N && atomicOut) {
            int rowBlocks = ceilDiv(m, 256 * SKINNY_ROWS);
            int splits = Math.max(1, Math.min(ceilDiv(k, SKINNY_BK), 4 * MULTIPROCESSORS / rowBlocks));
            int kPerBlock = ceilDiv(ceilDiv(k, splits), SKINNY_BK) * SKINNY_BK;
            launch(gemmTnSkinny, rowBlocks, ceilDiv(k, kPerBlock), 1, 256, 0, stream, m, n, k, a, lda, b, ldb, c, ldc, kPerBlock, round);
            return true;
        }
        if (kind == GemmKind.NN && k == 1) {
            launch(outerK1, (int) Math.min(ceilDiv((long) m * n, 256), 8L * MULTIPROCESSORS), 1, 1, 256, 0, stream, m, n, a, lda, b, c,
                    ldc, bias, relu ? 1 : 0, mask, ldmask, atomicOut ? 1 : 0, round);
            return true;
        }
        return false;
    }

    /**
     * Splits of a weight gradient's reduction over the batch: enough blocks for at least one wave over the
     * multiprocessors, and a whole number of waves where possible (a last, partly filled wave idles the rest).
     * (Preferring the fewest splits with a 90% full last wave, 8 rather than 33 for kaggle's 1024 x 1024
     * gradient, was 4% slower on the H200: the many short splits hide latency better than they cost in atomics.)
     */
    static int splitsFor(int tiles, int k, int wave) {
        // up to 256 splits of at least 256: a gradient of one or two tiles (the bottom MLP's 128 x 256) fills the GPU
        int maxSplits = Math.max(1, Math.min(256, ceilDiv(k, 256)));
        int sms = wave;
        int best = 1;
        double bestScore = -1;
        for (int s = 1; s <= maxSplits; s++) {
            int blocks = tiles * s;
            double waves = (double) blocks / sms;
            double fill = waves / Math.ceil(waves);
            // prefer at least one full wave, then the best fill, then fewer splits (fewer atomics)
            double score = (blocks >= sms ? 1 : 0) * 2 + fill - s * 1e-3;
            if (score > bestScore) {
                bestScore = score;
                best = s;
            }
        }
        return best;
    }

    /** db[n] += column sums of dy [m, n]; with {@code roundBf16} each summand is rounded to bf16 first. */
    public void colSum(int m, int n, CUdeviceptr dy, CUdeviceptr db, boolean roundBf16, CudaStream stream) {
        launch(colSum, ceilDiv(n, 32), Math.max(1, Math.min(ceilDiv(m, 64), 64)), 1, 256, 0, stream, m, n, dy, db,
                roundBf16 ? 1 : 0);
    }

    public void dedupRows(int n, int tables, CUdeviceptr ids, CUdeviceptr tableOffset, CUdeviceptr hashKeys,
                          CUdeviceptr hashVals, int hashShift, CUdeviceptr uniqueRows, CUdeviceptr uniqueCount,
                          CUdeviceptr inv, CudaStream stream) {
        launch(dedupRows, ceilDiv(n, 256), 1, 1, 256, 0, stream, n, tables, ids, tableOffset, hashKeys, hashVals, hashShift,
                uniqueRows, uniqueCount, inv);
    }

    public static int interactSharedBytes(int tables, int dim, boolean backward) {
        int f = tables + 1;
        return (f * (dim + 1) + (backward ? f * f : 0)) * Float.BYTES;
    }

    /**
     * Which of the interaction kernels for 128-float rows fits {@code tables + 1} vectors (0: 8, 1: 16, 2: 32),
     * or -1 when the rows are not 128 floats wide or there are more than 32 vectors (the shared-memory kernels).
     */
    static int interact128Variant(int tables, int dim) {
        int f = tables + 1;
        if (dim != 128 || f > 32) return -1;
        return f <= 8 ? 0 : f <= 16 ? 1 : 2;
    }

    public void interactForward(int batch, int tables, int dim, CUdeviceptr x, CUdeviceptr table, CUdeviceptr inv,
                                CUdeviceptr uniqueRows, CUdeviceptr r, int ldr, CudaStream stream) {
        int v = interact128Variant(tables, dim);
        if (v >= 0) {
            launch(interact128Fwd[v], ceilDiv(batch, INTERACT128_WARPS), 1, 1, 32 * INTERACT128_WARPS, 0, stream, batch, tables,
                    x, table, inv, uniqueRows, r, ldr);
            return;
        }
        launch(interactFwd, batch, 1, 1, 128, interactSharedBytes(tables, dim, false), stream, tables, dim, x, table, inv,
                uniqueRows, r, ldr);
    }

    public void interactBackward(int batch, int tables, int dim, CUdeviceptr x, CUdeviceptr table, CUdeviceptr inv,
                                 CUdeviceptr uniqueRows, CUdeviceptr dr, int ldr, boolean maskRelu, CUdeviceptr dx,
                                 CUdeviceptr gradAcc, CudaStream stream) {
        int v = interact128Variant(tables, dim);
        if (v >= 0) {
            launch(interact128Bwd[v], ceilDiv(batch, INTERACT128_WARPS), 1, 1, 32 * INTERACT128_WARPS, 0, stream, batch, tables,
                    x, table, inv, uniqueRows, dr, ldr, maskRelu ? 1 : 0, dx, gradAcc);
            return;
        }
        launch(interactBwd, batch, 1, 1, 128, interactSharedBytes(tables, dim, true), stream, tables, dim, x, table, inv,
                uniqueRows, dr, ldr, maskRelu ? 1 : 0, dx, gradAcc);
    }

    /** {@code dst[r * ldd + c] = src[r * lds + c]} for {@code r < rows, c < cols}. */
    public void copyMatrix(int rows, int cols, CUdeviceptr src, int lds, CUdeviceptr dst, int ldd, CudaStream stream) {
        launch(copyMatrix, Math.min(ceilDiv(rows * cols, 256), 4 * MULTIPROCESSORS), 1, 1, 256, 0, stream, rows, cols, src, lds,
                dst, ldd);
    }

    public void bceLoss(int batch, CUdeviceptr logits, CUdeviceptr labels, CUdeviceptr probs, CUdeviceptr dlogits,
                        CUdeviceptr lossSum, CUdeviceptr stepCounter, CudaStream stream) {
        launch(bceLoss, ceilDiv(batch, 256), 1, 1, 256, 0, stream, batch, logits, labels, probs, dlogits, lossSum, stepCounter);
    }

    public void embUpdate(int maxUnique, CUdeviceptr uniqueCount, CUdeviceptr uniqueRows, CUdeviceptr gradAcc,
                          CUdeviceptr table, CUdeviceptr accum, int dim, float lr, float eps, boolean rowwise,
                          CUdeviceptr nonFinite, CudaStream stream) {
        launch(embUpdate, ceilDiv(maxUnique, 8), 1, 1, 256, 0, stream, uniqueCount, uniqueRows, gradAcc, table, accum, dim,
                lr, eps, rowwise ? 1 : 0, nonFinite);
    }

    public void denseUpdate(int n, int kind, CUdeviceptr w, CUdeviceptr g, CUdeviceptr s1, CUdeviceptr s2, float lr,
                            float eps, float beta1, float beta2, CUdeviceptr stepCounter, CUdeviceptr nonFinite,
                            CudaStream stream) {
        launch(denseUpdate, ceilDiv(n, 256), 1, 1, 256, 0, stream, n, kind, w, g, s1, s2, lr, eps, beta1, beta2, stepCounter,
                nonFinite);
    }

    /**
     * Swaps up to {@code n} entries: {@code *count} entries when {@code count} is given (a plan made on the GPU),
     * else exactly {@code n}.
     */
    public void cacheSwap(int n, CUdeviceptr count, CUdeviceptr slots, CUdeviceptr evictRows, CUdeviceptr loadRows,
                          CUdeviceptr cacheTable, CUdeviceptr cacheAccum, HostRowStore hostTable, HostRowStore hostAccum, int dim,
                          CudaStream stream) {
        // Lanes move rows in groups (rowLanes in DlrmKernels.cu: 4 lanes for 16 floats, a warp for 128). With a
        // count on the device the groups stride over the entries in one block, two for rows of more than 64 floats:
        // the swap is bound by the bus's address translation, not by the rows in flight (64 blocks of 8 warps: 6.7 ms
        // for 81 k rows of kaggle128, 4 of 32 warps: 6.7 ms too), while every multiprocessor that holds a swap block
        // holds one GEMM block of the step beside it fewer (the GEMMs use the whole register file with two). Beside
        // a step at batch 2048 (kaggle16), 4 blocks held the GPU cache at 0.87-0.90 of all rows on the GPU, one at
        // 0.91-0.92 (bench/device/NOTES.md, session 9).
        int groupsPerBlock = SWAP_THREADS / rowLanes(dim);
        int blocks = count == null ? ceilDiv(n, groupsPerBlock) : Math.min(ceilDiv(n, groupsPerBlock), dim > 64 ? 2 : 1);
        launch(cacheSwap, blocks, 1, 1, SWAP_THREADS, 0, stream, n, count, slots, evictRows, loadRows, cacheTable, cacheAccum,
                hostTable.chunkAddresses(), hostTable.rowsPerChunk(), hostAccum == null ? null : hostAccum.chunkAddresses(),
                hostAccum == null ? 1L : hostAccum.rowsPerChunk(), dim);
    }

    /**
     * Packs entries [0, n) of a plan's swap lists and the rows (and accumulators) of their victims into
     * {@code packed}, in the layout that {@link HostRowMover} reads (see DlrmKernels.cu, cache_pack).
     */
    public void cachePack(int n, CachePlanSpace p, CUdeviceptr cacheTable, CUdeviceptr cacheAccum, int dim, CUdeviceptr packed,
                          CudaStream stream) {
        // a warp per entry, all at once: unlike cache_swap's bus round trips these are device-memory copies that
        // hold a multiprocessor for microseconds, so the grid need not be kept small beside the step's GEMMs
        launch(cachePack, ceilDiv(n, 8), 1, 1, 256, 0, stream, n, p.swapSlot(), p.swapEvict(), p.swapLoad(), cacheTable,
                cacheAccum, dim, packed);
    }

    /** Puts the loaded rows (and accumulators) of entries [0, n), packed by {@link HostRowMover}, into their slots. */
    public void cacheUnpack(int n, CachePlanSpace p, CUdeviceptr packed, CUdeviceptr cacheTable, CUdeviceptr cacheAccum, int dim,
                            CudaStream stream) {
        launch(cacheUnpack, ceilDiv(n, 8), 1, 1, 256, 0, stream, n, p.swapSlot(), p.swapLoad(), packed, cacheTable, cacheAccum,
                dim);
    }

    /** Lanes of cache_swap that move one row of {@code dim} floats (rowLanes in DlrmKernels.cu). */
    static int rowLanes(int dim) {
        int units = dim % 4 == 0 ? dim / 4 : dim;
        int g = 1;
        while (g < units && g < 32) g <<= 1;
        return g;
    }

    /** Directory arrays of the GPU cache (see DlrmKernels.cu, "GPU embedding cache directory"). */
    public record CacheDirectory(int capacity, CUdeviceptr rowSlot, CUdeviceptr rowCount, CUdeviceptr slotRow,
                                 CUdeviceptr slotEpoch, CUdeviceptr slotCount) {
    }

    /**
     * A plan's workspace: its counters, its miss list, victims and swap lists, each of maxMisses entries, and the
     * lookups of rows not cached (as many entries: a batch looks up at most maxMisses rows).
     */
    public record CachePlanSpace(int maxMisses, CUdeviceptr counters, CUdeviceptr missRows, CUdeviceptr victims,
                                 CUdeviceptr swapSlot, CUdeviceptr swapEvict, CUdeviceptr swapLoad, CUdeviceptr missLookups) {
    }

    /** Pins a batch's cached rows, gives their lookups their slots and lists the misses. */
    public void cacheLookup(int n, int tables, CUdeviceptr ids, CUdeviceptr tableOffset, CacheDirectory d, int epoch,
                            CUdeviceptr slots, CachePlanSpace p, CudaStream stream) {
        launch(cacheLookup, ceilDiv(n, 256), 1, 1, 256, 0, stream, n, tables, ids, tableOffset, d.rowSlot(), d.rowCount(),
                d.slotEpoch(), d.slotCount(), epoch, slots, p.missRows(), p.missLookups(), p.counters());
    }

    /**
     * Claims victims for the plan's misses among the slots not pinned by tickets {@code >= oldestLive}, sweeping from
     * the hand in {@code clock} (two ints on the device, zero at first, carried from plan to plan), and installs the
     * misses in them. A plan of {@code lookups} lookups sweeps and installs in {@link #planBlocks} blocks: plans run
     * on a high-priority stream beside a training step, and what a small batch's step feels is how many
     * multiprocessors a plan's grids take. Two passes over every slot in a whole-GPU grid (the victim choice before
     * the sweep) held a 0.57 ms step at batch 2048 (kaggle16, H200) at about 0.91 of all rows on the GPU; the sweep
     * took it to 0.93-0.94 (bench/device/NOTES.md, session 10).
     */
    public void cacheChooseVictims(CacheDirectory d, int oldestLive, int epoch, int lookups, CachePlanSpace p, CUdeviceptr clock,
                                   CUdeviceptr totalMisses, CudaStream stream) {
        int blocks = planBlocks(lookups);
        launch(cacheSweep, blocks, 1, 1, 256, 0, stream, d.capacity(), d.slotRow(), d.slotEpoch(), d.slotCount(), oldestLive,
                epoch, SWEEP_BUDGET, p.counters(), p.victims(), clock, totalMisses);
        launch(cacheInstall, blocks, 1, 1, 256, 0, stream, p.maxMisses(), p.counters(), p.missRows(), p.victims(), d.rowSlot(),
                d.slotRow(), d.rowCount(), d.slotCount(), p.swapSlot(), p.swapEvict(), p.swapLoad());
    }

    /** After the misses are installed: the slots of the lookups that missed. */
    public void cacheAssignMisses(int lookups, int tables, CUdeviceptr ids, CUdeviceptr tableOffset, CacheDirectory d,
                                  CUdeviceptr slots, CachePlanSpace p, CudaStream stream) {
        launch(cacheAssignMisses, planBlocks(lookups), 1, 1, 256, 0, stream, p.counters(), p.missLookups(), tables, ids,
                tableOffset, d.rowSlot(), slots);
    }

    /**
     * Blocks of 256 threads for a plan's grid-stride kernels: one per 2,048 lookups, 8 to one per multiprocessor.
     * A batch misses a few percent of its lookups once the cache is warm (kaggle16 at 2048: 3,800 of 53,248).
     */
    static int planBlocks(int lookups) {
        return Math.max(8, Math.min(MULTIPROCESSORS, ceilDiv(lookups, 2048)));
    }

    public void cacheAge(CacheDirectory d, CudaStream stream) {
        launch(cacheAge, ceilDiv(d.capacity(), 256), 1, 1, 256, 0, stream, d.capacity(), d.slotRow(), d.rowCount(), d.slotCount());
    }

    /** rowCount[rows[i]] += counts[i] (saturating at 2^31 - 1) for i in [0, n). */
    public void cacheAddCounts(int n, CUdeviceptr rows, CUdeviceptr counts, CacheDirectory d, CudaStream stream) {
        launch(cacheAddCounts, ceilDiv(n, 256), 1, 1, 256, 0, stream, n, rows, counts, d.rowCount(), d.rowSlot(), d.slotCount());
    }

    public void cacheFlush(int n, CUdeviceptr slots, CUdeviceptr rows, CUdeviceptr cacheTable, CUdeviceptr cacheAccum,
                           HostRowStore hostTable, HostRowStore hostAccum, int dim, CudaStream stream) {
        launch(cacheFlush, ceilDiv(n, 8), 1, 1, 256, 0, stream, n, slots, rows, cacheTable, cacheAccum,
                hostTable.chunkAddresses(), hostTable.rowsPerChunk(), hostAccum == null ? null : hostAccum.chunkAddresses(),
                hostAccum == null ? 1L : hostAccum.rowsPerChunk(), dim);
    }

    /** Element e of out[0, n) = uniform [-scale, scale) number firstIndex + e of the sequence of {@code seed}. */
    public void fillUniform(long n, CUdeviceptr out, long seed, float scale, long firstIndex, CudaStream stream) {
        int blocks = (int) Math.min(ceilDiv(n, 256), 132L * 64);
        launch(fillUniform, blocks, 1, 1, 256, 0, stream, n, out, seed, scale, firstIndex);
    }

    public void fillUniform(long n, CUdeviceptr out, long seed, float scale, CudaStream stream) {
        fillUniform(n, out, seed, scale, 0L, stream);
    }

    static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    @Override
    void release() {
        cuModuleUnload(module);
    }
}
