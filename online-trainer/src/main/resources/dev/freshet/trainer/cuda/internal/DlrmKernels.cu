// Kernels of one DLRM training step (Naumov et al., 2019), launched by DlrmKernels.java.
//
// Built to PTX by online-trainer's "cuda" Maven profile (nvcc -ptx -arch=sm_90); the PTX is committed
// beside this file so that a build without CUDA still ships it, and the driver JIT-compiles it at load.
//
// Layouts (row-major, fp32 in memory in both precisions; bf16 only inside the tensor-core GEMM):
//   activations  [B, width]                  weights [out, in] as torch.nn.Linear, bias [out]
//   table        [rows, D]                   the physical rows: all rows, or the GPU cache's slots
//   ids          [B, T]                      physical row per (example, table) before dedup
//   R            [B, D + F(F-1)/2]           top MLP input: bottom output, then the pairwise dots
//   gradAcc      [uniqueRows, D]             summed gradient of each distinct row of the batch
#include <cuda_bf16.h>
#include <mma.h>

using namespace nvcuda;

// ---------------------------------------------------------------------------------------------
// GEMM: C[M,N] = epilogue(sum_k A(m,k) B(k,n)), A(m,k) = TA ? A[k*lda+m] : A[m*lda+k],
// B(k,n) = TB ? B[n*ldb+k] : B[k*ldb+n]. The three uses in an MLP:
//   forward     Y  = X  W^T   (TA=0, TB=1)
//   input grad  dX = dY W     (TA=0, TB=0), masked by the layer input > 0 when that input is a ReLU output
//   weight grad dW = dY^T X   (TA=1, TB=0), split over K (the batch) with atomic adds into a zeroed dW
// Epilogue: + bias[n], ReLU, * (mask[m*ldmask+n] > 0). With atomicOut the block adds its partial sum.
// sumA (weight gradients in the fp32 128x128 kernel only): sumA[m] += sum_k A(m,k), the bias gradient, from the
// dY tiles the blocks of the first column of tiles load anyway (a separate col_sum pass reads dY once more).
// ---------------------------------------------------------------------------------------------

struct Epilogue {
    const float* bias;
    int relu;
    const float* mask;
    int ldmask;
    int atomicOut;
    float* sumA;
};

__device__ __forceinline__ void storeC(float* C, int ldc, int m, int n, float v, const Epilogue& e) {
    if (e.atomicOut) {
        atomicAdd(&C[(size_t)m * ldc + n], v);
        return;
    }
    if (e.bias) v += e.bias[n];
    if (e.relu) v = fmaxf(v, 0.0f);
    if (e.mask && !(e.mask[(size_t)m * e.ldmask + n] > 0.0f)) v = 0.0f;
    C[(size_t)m * ldc + n] = v;
}

// Columns n..n+3 of row m as one 16-byte store (the forward kernel, no atomics, no mask), where
// storeVectorizable holds and n + 3 < N. A thread's 4 adjacent columns stored one by one write 4 bytes into
// each of 16 sectors per instruction: for the short-K GEMMs (the bottom MLP's first layer) the L2 was ~80%
// busy with those partial writes (ncu, H200); with 16-byte stores that GEMM took 0.10 ms instead of 0.21.
__device__ __forceinline__ void storeC4(float* C, int ldc, int m, int n, float4 v, const Epilogue& e) {
    float* c = C + (size_t)m * ldc + n;
    if (e.bias) {
        float4 b = *reinterpret_cast<const float4*>(e.bias + n);
        v.x += b.x; v.y += b.y; v.z += b.z; v.w += b.w;
    }
    if (e.relu) {
        v.x = fmaxf(v.x, 0.0f); v.y = fmaxf(v.y, 0.0f); v.z = fmaxf(v.z, 0.0f); v.w = fmaxf(v.w, 0.0f);
    }
    *reinterpret_cast<float4*>(c) = v;
}

template <bool TA>
__device__ __forceinline__ float loadA(const float* A, int lda, int M, int K, int m, int k) {
    if (m >= M || k >= K) return 0.0f;
    return TA ? A[(size_t)k * lda + m] : A[(size_t)m * lda + k];
}

template <bool TB>
__device__ __forceinline__ float loadB(const float* B, int ldb, int K, int N, int k, int n) {
    if (k >= K || n >= N) return 0.0f;
    return TB ? B[(size_t)n * ldb + k] : B[(size_t)k * ldb + n];
}

// A tile may be loaded with 16-byte vector loads when the operand's rows are 16-byte aligned (leading
// dimension a multiple of 4 floats, base aligned), its K range is whole slices, and M and N each either
// cover the block's tile or are multiples of 4 (a vector is then wholly inside or wholly outside the matrix:
// outside, it loads zeros). Odd shapes take the element-wise path. Both paths store the same shared-memory
// layout. (DeviceModel pads the top MLP's 479-wide input to 480 for this: its dgrad and wgrad GEMMs have
// N = 480, whose last 128-wide tile is partial.)
__device__ __forceinline__ bool vectorizable(const float* p, int ld) {
    return (ld & 3) == 0 && (reinterpret_cast<size_t>(p) & 15) == 0;
}

__device__ __forceinline__ bool vectorTile(const float* A, int lda, const float* B, int ldb, int M, int N, int bm, int bn,
                                           int kRange, int bk) {
    return vectorizable(A, lda) && vectorizable(B, ldb) && ((blockIdx.y + 1) * bm <= M || (M & 3) == 0)
            && ((blockIdx.x + 1) * bn <= N || (N & 3) == 0) && kRange % bk == 0;
}

// storeC4's conditions: aligned rows of C and bias, no mask, no atomics.
__device__ __forceinline__ bool storeVectorizable(const float* C, int ldc, const Epilogue& e) {
    return vectorizable(C, ldc) && (reinterpret_cast<size_t>(e.bias) & 15) == 0 && !e.mask && !e.atomicOut;
}

__device__ __forceinline__ float4 load4(const float* p) {
    return __ldg(reinterpret_cast<const float4*>(p));
}

// EDGE: the block's tile may reach past M or N; vectors outside load zeros. In the fp32 kernel only edge
// blocks take the guard: in the tile loop of whole blocks it slowed the fp32 GEMMs by ~10% on the H200.
// The bf16 kernel guards every block (no slowdown measured; a separate edge variant made it spill).
template <bool EDGE>
__device__ __forceinline__ float4 load4If(bool inside, const float* p) {
    if (!EDGE) return load4(p);
    return inside ? load4(p) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
}

// fp32 SIMT GEMM: 64x64 tile, 16-deep K slices, 256 threads each owning a 4x4 block of C.
#define SG_BM 64
#define SG_BN 64
#define SG_BK 16

template <bool TA, bool TB>
__device__ void sgemm(int M, int N, int K, const float* __restrict__ A, int lda, const float* __restrict__ B, int ldb,
                      float* __restrict__ C, int ldc, Epilogue e, int kPerSplit) {
    __shared__ __align__(16) float As[SG_BK][SG_BM + 4];
    __shared__ __align__(16) float Bs[SG_BK][SG_BN + 4];
    const int tid = threadIdx.x;
    const int tx = tid % 16, ty = tid / 16;
    const int m0 = blockIdx.y * SG_BM, n0 = blockIdx.x * SG_BN;
    const int kBegin = blockIdx.z * kPerSplit;
    const int kEnd = min(K, kBegin + kPerSplit);
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;

    for (int k0 = kBegin; k0 < kEnd; k0 += SG_BK) {
#pragma unroll
        for (int r = 0; r < 4; r++) {
            int idx = tid + r * 256;
            // the fastest-varying index follows the contiguous dimension of the source, for coalescing
            int m = TA ? idx % SG_BM : idx / SG_BK;
            int k = TA ? idx / SG_BM : idx % SG_BK;
            As[k][m] = (k0 + k < kEnd) ? loadA<TA>(A, lda, M, K, m0 + m, k0 + k) : 0.0f;
            int n = TB ? idx / SG_BK : idx % SG_BN;
            int kb = TB ? idx % SG_BK : idx / SG_BN;
            Bs[kb][n] = (k0 + kb < kEnd) ? loadB<TB>(B, ldb, K, N, k0 + kb, n0 + n) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < SG_BK; kk++) {
            float4 a = *reinterpret_cast<const float4*>(&As[kk][ty * 4]);
            float4 b = *reinterpret_cast<const float4*>(&Bs[kk][tx * 4]);
            float av[4] = {a.x, a.y, a.z, a.w};
            float bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int m = m0 + ty * 4 + i;
        if (m >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int n = n0 + tx * 4 + j;
            if (n < N) storeC(C, ldc, m, n, acc[i][j], e);
        }
    }
}

// fp32 SIMT GEMM for large grids: 128x128 tile, 8-deep K slices, 256 threads each owning an 8x8 block
// of C (rows ty*4+i and 64+ty*4+i, columns likewise, so that shared-memory reads are 16-byte and
// conflict-free). The next slice is loaded into registers while the current one is multiplied, and
// shared memory is double-buffered, so one barrier per slice suffices.
#define SL_BM 128
#define SL_BN 128
#define SL_BK 8

typedef float SlTile[SL_BK][SL_BM + 4];

template <bool TA, bool TB, bool FAST, bool EDGE>
__device__ __forceinline__ void sgemmLargeTile(int M, int N, int K, const float* __restrict__ A, int lda, const float* __restrict__ B,
                                               int ldb, float* __restrict__ C, int ldc, Epilogue e, int kPerSplit,
                                               SlTile* As, SlTile* Bs) {
    const int tid = threadIdx.x;
    const int tx = tid % 16, ty = tid / 16;
    const int m0 = blockIdx.y * SL_BM, n0 = blockIdx.x * SL_BN;
    const int kBegin = blockIdx.z * kPerSplit;
    const int kEnd = min(K, kBegin + kPerSplit);
    float acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; i++)
#pragma unroll
        for (int j = 0; j < 8; j++) acc[i][j] = 0.0f;
    float sumA = 0.0f;  // TA: column sums of A (see Epilogue)
    float ra[4], rb[4];
    // FAST: one float4 per operand per thread, along the operand's contiguous dimension
    const int qa = TA ? (tid % 32) * 4 : (tid % 2) * 4, qb = TA ? tid / 32 : tid / 2;   // A: (m, k) or (k, m)
    const int pa = TB ? (tid % 2) * 4 : (tid % 32) * 4, pb = TB ? tid / 2 : tid / 32;   // B: (k, n) or (n, k)
    // element-wise path: the (m, k) of A and (k, n) of B that thread tid moves in round r, the fastest-varying
    // index along the operand's contiguous dimension (for coalescing); loads and stores use the same mapping
    auto slowCoords = [&](int r, int& m, int& k, int& n, int& kb) {
        int idx = tid + r * 256;
        m = TA ? idx % SL_BM : idx / SL_BK;
        k = TA ? idx / SL_BM : idx % SL_BK;
        n = TB ? idx / SL_BK : idx % SL_BN;
        kb = TB ? idx % SL_BK : idx / SL_BN;
    };
    auto loadTile = [&](int k0) {
        if constexpr (FAST) {
            float4 a = TA ? load4If<EDGE>(m0 + qa < M, A + (size_t)(k0 + qb) * lda + m0 + qa)
                          : load4If<EDGE>(m0 + qb < M, A + (size_t)(m0 + qb) * lda + k0 + qa);
            float4 b = TB ? load4If<EDGE>(n0 + pb < N, B + (size_t)(n0 + pb) * ldb + k0 + pa)
                          : load4If<EDGE>(n0 + pa < N, B + (size_t)(k0 + pb) * ldb + n0 + pa);
            ra[0] = a.x; ra[1] = a.y; ra[2] = a.z; ra[3] = a.w;
            rb[0] = b.x; rb[1] = b.y; rb[2] = b.z; rb[3] = b.w;
        } else {
#pragma unroll
            for (int r = 0; r < 4; r++) {
                int m, k, n, kb;
                slowCoords(r, m, k, n, kb);
                ra[r] = (k0 + k < kEnd) ? loadA<TA>(A, lda, M, K, m0 + m, k0 + k) : 0.0f;
                rb[r] = (k0 + kb < kEnd) ? loadB<TB>(B, ldb, K, N, k0 + kb, n0 + n) : 0.0f;
            }
        }
    };
    auto storeTile = [&](int buf) {
        if constexpr (FAST) {
            if (TA) *reinterpret_cast<float4*>(&As[buf][qb][qa]) = make_float4(ra[0], ra[1], ra[2], ra[3]);
            else {
#pragma unroll
                for (int j = 0; j < 4; j++) As[buf][qa + j][qb] = ra[j];
            }
            if (!TB) *reinterpret_cast<float4*>(&Bs[buf][pb][pa]) = make_float4(rb[0], rb[1], rb[2], rb[3]);
            else {
#pragma unroll
                for (int j = 0; j < 4; j++) Bs[buf][pa + j][pb] = rb[j];
            }
        } else {
#pragma unroll
            for (int r = 0; r < 4; r++) {
                int m, k, n, kb;
                slowCoords(r, m, k, n, kb);
                As[buf][k][m] = ra[r];
                Bs[buf][kb][n] = rb[r];
            }
        }
    };
    int buf = 0;
    if (kBegin < kEnd) {
        loadTile(kBegin);
        storeTile(0);
    }
    __syncthreads();
    for (int k0 = kBegin; k0 < kEnd; k0 += SL_BK) {
        bool more = k0 + SL_BK < kEnd;
        if (more) loadTile(k0 + SL_BK);
#pragma unroll
        for (int kk = 0; kk < SL_BK; kk++) {
            float4 a0 = *reinterpret_cast<const float4*>(&As[buf][kk][ty * 4]);
            float4 a1 = *reinterpret_cast<const float4*>(&As[buf][kk][64 + ty * 4]);
            float4 b0 = *reinterpret_cast<const float4*>(&Bs[buf][kk][tx * 4]);
            float4 b1 = *reinterpret_cast<const float4*>(&Bs[buf][kk][64 + tx * 4]);
            float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
            float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
            for (int i = 0; i < 8; i++)
#pragma unroll
                for (int j = 0; j < 8; j++) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
        }
        if constexpr (TA) {
            // the slice's column sums: thread t adds column t % 128 of rows 4 (t / 128) .. +3 (zeros past M and kEnd)
            if (e.sumA && blockIdx.x == 0) {
                const float* col = &As[buf][(tid >> 7) * 4][tid & 127];
                sumA += (col[0] + col[SL_BM + 4]) + (col[2 * (SL_BM + 4)] + col[3 * (SL_BM + 4)]);
            }
        }
        if (more) storeTile(buf ^ 1);
        __syncthreads();
        buf ^= 1;
    }
    if constexpr (TA) {
        if (e.sumA && blockIdx.x == 0 && m0 + (tid & 127) < M) atomicAdd(&e.sumA[m0 + (tid & 127)], sumA);
    }
    if constexpr (!TA && TB) {  // the forward (NT) kernel
        bool vectorStore = storeVectorizable(C, ldc, e);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            int m = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + i - 4);
            if (m >= M) continue;
#pragma unroll
            for (int h = 0; h < 2; h++) {  // columns n0 + tx * 4 and n0 + 64 + tx * 4, four each
                int n = n0 + h * 64 + tx * 4;
                if (vectorStore && n + 3 < N) {
                    storeC4(C, ldc, m, n, make_float4(acc[i][4 * h], acc[i][4 * h + 1], acc[i][4 * h + 2], acc[i][4 * h + 3]), e);
                } else {
#pragma unroll
                    for (int j = 0; j < 4; j++) {
                        if (n + j < N) storeC(C, ldc, m, n + j, acc[i][4 * h + j], e);
                    }
                }
            }
        }
    } else {
        // the gradient kernels keep element-wise stores: in the NN one (input gradients) a vector branch made
        // the two-blocks build spill, and the TN one (weight gradients) ran 5% slower with 16-byte atomics
#pragma unroll
        for (int i = 0; i < 8; i++) {
            int m = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + i - 4);
            if (m >= M) continue;
#pragma unroll
            for (int j = 0; j < 8; j++) {
                int n = n0 + (j < 4 ? tx * 4 + j : 64 + tx * 4 + j - 4);
                if (n < N) storeC(C, ldc, m, n, acc[i][j], e);
            }
        }
    }
}

// Picks the vector path where vectorTile allows it.
template <bool TA, bool TB>
__device__ void sgemmLarge(int M, int N, int K, const float* __restrict__ A, int lda, const float* __restrict__ B, int ldb,
                           float* __restrict__ C, int ldc, Epilogue e, int kPerSplit) {
    __shared__ __align__(16) SlTile As[2];
    __shared__ __align__(16) SlTile Bs[2];
    int kBegin = blockIdx.z * kPerSplit, kEnd = min(K, kBegin + kPerSplit);
    bool fast = vectorTile(A, lda, B, ldb, M, N, SL_BM, SL_BN, kEnd - kBegin, SL_BK);
    bool whole = (blockIdx.y + 1) * SL_BM <= M && (blockIdx.x + 1) * SL_BN <= N;
    if (fast && whole) sgemmLargeTile<TA, TB, true, false>(M, N, K, A, lda, B, ldb, C, ldc, e, kPerSplit, As, Bs);
    else if (fast) sgemmLargeTile<TA, TB, true, true>(M, N, K, A, lda, B, ldb, C, ldc, e, kPerSplit, As, Bs);
    else sgemmLargeTile<TA, TB, false, false>(M, N, K, A, lda, B, ldb, C, ldc, e, kPerSplit, As, Bs);
}

// bf16 tensor-core GEMM (wmma 16x16x16, fp32 accumulate): 128x128 tile, 32-deep K slices, 8 warps of
// 32x64 each. Operands are rounded to bf16 as they enter shared memory, as torch.autocast rounds a
// Linear's inputs; accumulation and the epilogue stay fp32. Each operand keeps in shared memory the
// orientation it has in global memory (a transposed operand is a col_major fragment), so every thread
// loads two neighbouring elements and stores them as one bf16 pair; the next slice is loaded into
// registers while the current one is multiplied (double-buffered shared memory).
#define HG_BM 128
#define HG_BN 128
#define HG_BK 32
#define HG_PAD 8
#define HG_TILE_ELEMS (HG_BM * (HG_BK + HG_PAD) > HG_BK * (HG_BM + HG_PAD) ? HG_BM * (HG_BK + HG_PAD) : HG_BK * (HG_BM + HG_PAD))

template <bool T> struct Orient;
template <> struct Orient<false> { typedef wmma::row_major type; };
template <> struct Orient<true> { typedef wmma::col_major type; };

typedef __nv_bfloat16 HgTile[HG_TILE_ELEMS];
typedef float HgScratch[16 * 16];

template <bool TA, bool TB, bool FAST, bool EDGE>
__device__ __forceinline__ void hgemmTile(int M, int N, int K, const float* __restrict__ A, int lda, const float* __restrict__ B,
                                          int ldb, float* __restrict__ C, int ldc, Epilogue e, int kPerSplit, HgTile* As,
                                          HgTile* Bs, HgScratch* scratch) {
    // A (m,k): !TA -> As[m][k] (ld HG_BK+PAD), TA -> As[k][m] (ld HG_BM+PAD)
    // B (k,n): !TB -> Bs[k][n] (ld HG_BN+PAD), TB -> Bs[n][k] (ld HG_BK+PAD)
    const int ldA = TA ? HG_BM + HG_PAD : HG_BK + HG_PAD;
    const int ldB = TB ? HG_BK + HG_PAD : HG_BN + HG_PAD;
    const int tid = threadIdx.x;
    const int warp = tid / 32, lane = tid % 32;
    const int wm = warp / 2, wn = warp % 2;  // 4 warps along M (32 rows each), 2 along N (64 columns each)
    const int m0 = blockIdx.y * HG_BM, n0 = blockIdx.x * HG_BN;
    const int kBegin = blockIdx.z * kPerSplit;
    const int kEnd = min(K, kBegin + kPerSplit);

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][4];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) wmma::fill_fragment(acc[i][j], 0.0f);

    // 4096 elements per operand tile = 2048 pairs = 8 per thread; a pair runs along the contiguous dimension
    float ra[16], rb[16];
    // FAST: four float4 per operand per thread, quads along the operand's contiguous dimension
    auto quadA = [&](int r, int& outer, int& inner) {  // TA: As[k][m], else As[m][k]
        int q = tid + r * 256;
        if (TA) { inner = (q % (HG_BM / 4)) * 4; outer = q / (HG_BM / 4); }
        else { inner = (q % (HG_BK / 4)) * 4; outer = q / (HG_BK / 4); }
    };
    auto quadB = [&](int r, int& outer, int& inner) {  // TB: Bs[n][k], else Bs[k][n]
        int q = tid + r * 256;
        if (TB) { inner = (q % (HG_BK / 4)) * 4; outer = q / (HG_BK / 4); }
        else { inner = (q % (HG_BN / 4)) * 4; outer = q / (HG_BN / 4); }
    };
    auto loadTile = [&](int k0) {
        if constexpr (FAST) {
#pragma unroll
            for (int r = 0; r < 4; r++) {
                int outer, inner;
                quadA(r, outer, inner);
                float4 v = TA ? load4If<EDGE>(m0 + inner < M, A + (size_t)(k0 + outer) * lda + m0 + inner)
                              : load4If<EDGE>(m0 + outer < M, A + (size_t)(m0 + outer) * lda + k0 + inner);
                ra[4 * r] = v.x; ra[4 * r + 1] = v.y; ra[4 * r + 2] = v.z; ra[4 * r + 3] = v.w;
                quadB(r, outer, inner);
                v = TB ? load4If<EDGE>(n0 + outer < N, B + (size_t)(n0 + outer) * ldb + k0 + inner)
                       : load4If<EDGE>(n0 + inner < N, B + (size_t)(k0 + outer) * ldb + n0 + inner);
                rb[4 * r] = v.x; rb[4 * r + 1] = v.y; rb[4 * r + 2] = v.z; rb[4 * r + 3] = v.w;
            }
        } else {
#pragma unroll
            for (int r = 0; r < 8; r++) {
                int pair = tid + r * 256;
                int m, k;
                if (TA) { m = (pair % (HG_BM / 2)) * 2; k = pair / (HG_BM / 2); }
                else { k = (pair % (HG_BK / 2)) * 2; m = pair / (HG_BK / 2); }
                int mi = TA ? 1 : 0, ki = TA ? 0 : 1;
                ra[2 * r] = (k0 + k < kEnd) ? loadA<TA>(A, lda, M, K, m0 + m, k0 + k) : 0.0f;
                ra[2 * r + 1] = (k0 + k + ki < kEnd) ? loadA<TA>(A, lda, M, K, m0 + m + mi, k0 + k + ki) : 0.0f;
                int n, kb;
                if (TB) { kb = (pair % (HG_BK / 2)) * 2; n = pair / (HG_BK / 2); }
                else { n = (pair % (HG_BN / 2)) * 2; kb = pair / (HG_BN / 2); }
                int ni = TB ? 0 : 1, kbi = TB ? 1 : 0;
                rb[2 * r] = (k0 + kb < kEnd) ? loadB<TB>(B, ldb, K, N, k0 + kb, n0 + n) : 0.0f;
                rb[2 * r + 1] = (k0 + kb + kbi < kEnd) ? loadB<TB>(B, ldb, K, N, k0 + kb + kbi, n0 + n + ni) : 0.0f;
            }
        }
    };
    auto storeTile = [&](int buf) {
        if constexpr (FAST) {
#pragma unroll
            for (int r = 0; r < 4; r++) {
                int outer, inner;
                quadA(r, outer, inner);
                __nv_bfloat162* p = reinterpret_cast<__nv_bfloat162*>(&As[buf][outer * ldA + inner]);
                p[0] = __floats2bfloat162_rn(ra[4 * r], ra[4 * r + 1]);
                p[1] = __floats2bfloat162_rn(ra[4 * r + 2], ra[4 * r + 3]);
                quadB(r, outer, inner);
                p = reinterpret_cast<__nv_bfloat162*>(&Bs[buf][outer * ldB + inner]);
                p[0] = __floats2bfloat162_rn(rb[4 * r], rb[4 * r + 1]);
                p[1] = __floats2bfloat162_rn(rb[4 * r + 2], rb[4 * r + 3]);
            }
        } else {
#pragma unroll
            for (int r = 0; r < 8; r++) {
                int pair = tid + r * 256;
                int outer, inner;  // row and (even) column of the shared-memory layout
                if (TA) { inner = (pair % (HG_BM / 2)) * 2; outer = pair / (HG_BM / 2); }
                else { inner = (pair % (HG_BK / 2)) * 2; outer = pair / (HG_BK / 2); }
                *reinterpret_cast<__nv_bfloat162*>(&As[buf][outer * ldA + inner]) = __floats2bfloat162_rn(ra[2 * r], ra[2 * r + 1]);
                if (TB) { inner = (pair % (HG_BK / 2)) * 2; outer = pair / (HG_BK / 2); }
                else { inner = (pair % (HG_BN / 2)) * 2; outer = pair / (HG_BN / 2); }
                *reinterpret_cast<__nv_bfloat162*>(&Bs[buf][outer * ldB + inner]) = __floats2bfloat162_rn(rb[2 * r], rb[2 * r + 1]);
            }
        }
    };
    int buf = 0;
    if (kBegin < kEnd) {
        loadTile(kBegin);
        storeTile(0);
    }
    __syncthreads();
    for (int k0 = kBegin; k0 < kEnd; k0 += HG_BK) {
        bool more = k0 + HG_BK < kEnd;
        if (more) loadTile(k0 + HG_BK);
#pragma unroll
        for (int kk = 0; kk < HG_BK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, typename Orient<TA>::type> a[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, typename Orient<TB>::type> b[4];
#pragma unroll
            for (int i = 0; i < 2; i++) {
                int m = wm * 32 + i * 16;
                const __nv_bfloat16* p = TA ? &As[buf][kk * ldA + m] : &As[buf][m * ldA + kk];
                wmma::load_matrix_sync(a[i], p, ldA);
            }
#pragma unroll
            for (int j = 0; j < 4; j++) {
                int n = wn * 64 + j * 16;
                const __nv_bfloat16* p = TB ? &Bs[buf][n * ldB + kk] : &Bs[buf][kk * ldB + n];
                wmma::load_matrix_sync(b[j], p, ldB);
            }
#pragma unroll
            for (int i = 0; i < 2; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
        }
        if (more) storeTile(buf ^ 1);
        __syncthreads();
        buf ^= 1;
    }
    float* s = scratch[warp];
#pragma unroll
    for (int i = 0; i < 2; i++) {
#pragma unroll
        for (int j = 0; j < 4; j++) {
            wmma::store_matrix_sync(s, acc[i][j], 16, wmma::mem_row_major);
            __syncwarp();
            int mBase = m0 + wm * 32 + i * 16, nBase = n0 + wn * 64 + j * 16;
            for (int q = lane; q < 256; q += 32) {
                int m = mBase + q / 16, n = nBase + q % 16;
                if (m < M && n < N) storeC(C, ldc, m, n, s[q], e);
            }
            __syncwarp();
        }
    }
}

template <bool TA, bool TB>
__device__ void hgemm(int M, int N, int K, const float* __restrict__ A, int lda, const float* __restrict__ B, int ldb,
                      float* __restrict__ C, int ldc, Epilogue e, int kPerSplit) {
    __shared__ __align__(32) HgTile As[2];
    __shared__ __align__(32) HgTile Bs[2];
    __shared__ __align__(32) HgScratch scratch[8];
    int kBegin = blockIdx.z * kPerSplit, kEnd = min(K, kBegin + kPerSplit);
    bool fast = vectorTile(A, lda, B, ldb, M, N, HG_BM, HG_BN, kEnd - kBegin, HG_BK);
    // one guarded vector path for whole and edge blocks: a third variant made the kernels spill
    if (fast) hgemmTile<TA, TB, true, true>(M, N, K, A, lda, B, ldb, C, ldc, e, kPerSplit, As, Bs, scratch);
    else hgemmTile<TA, TB, false, false>(M, N, K, A, lda, B, ldb, C, ldc, e, kPerSplit, As, Bs, scratch);
}

// Entry points. The 128x128 kernels come twice: capped for two blocks per multiprocessor (128 registers,
// more warps to hide latency, a few spills) and uncapped (one block); DlrmKernels picks one.
#define GEMM_ENTRY(name, body, ta, tb, minBlocks)                                                             \
    extern "C" __global__ void __launch_bounds__(256, minBlocks) name(                                        \
        int M, int N, int K, const float* A, int lda, const float* B, int ldb, float* C, int ldc,             \
        const float* bias, int relu, const float* mask, int ldmask, int atomicOut, int kPerSplit, float* sumA) { \
        Epilogue e{bias, relu, mask, ldmask, atomicOut, sumA};                                                \
        body<ta, tb>(M, N, K, A, lda, B, ldb, C, ldc, e, kPerSplit);                                          \
    }

GEMM_ENTRY(sgemm_nt, sgemm, false, true, 1)
GEMM_ENTRY(sgemm_nn, sgemm, false, false, 1)
GEMM_ENTRY(sgemm_tn, sgemm, true, false, 1)
GEMM_ENTRY(sgemm_large_nt, sgemmLarge, false, true, 1)
GEMM_ENTRY(sgemm_large_nn, sgemmLarge, false, false, 1)
GEMM_ENTRY(sgemm_large_tn, sgemmLarge, true, false, 1)
GEMM_ENTRY(sgemm_large2_nt, sgemmLarge, false, true, 2)
GEMM_ENTRY(sgemm_large2_nn, sgemmLarge, false, false, 2)
GEMM_ENTRY(sgemm_large2_tn, sgemmLarge, true, false, 2)
GEMM_ENTRY(hgemm_nt, hgemm, false, true, 1)
GEMM_ENTRY(hgemm_nn, hgemm, false, false, 1)
GEMM_ENTRY(hgemm_tn, hgemm, true, false, 1)
GEMM_ENTRY(hgemm2_nt, hgemm, false, true, 2)
GEMM_ENTRY(hgemm2_nn, hgemm, false, false, 2)
GEMM_ENTRY(hgemm2_tn, hgemm, true, false, 2)

// ---------------------------------------------------------------------------------------------
// GEMMs with a dimension of 1 (the top MLP's last layer has one output), where a 128x128 tile computes
// 128 times the useful products (0.5 ms of a kaggle128 fp32 step at batch 65536). Same operands,
// epilogue and bf16 rounding of the operands as the tile kernels.
//   gemv_n1   NT, N == 1 (forward):       C[m] = epi(sum_k A[m, k] B[0, k])    a warp per row
//   gemv_m1   TN, M == 1 (weight grad):   C[n] += sum_k A[k, 0] B[k, n]         a thread per column, K split over blocks
//   outer_k1  NN, K == 1 (input grad):    C[m, n] = epi(A[m, 0] B[0, n])       a thread per element
// ---------------------------------------------------------------------------------------------
__device__ __forceinline__ float gemmOperand(float v, int roundBf16) {
    return roundBf16 ? __bfloat162float(__float2bfloat16(v)) : v;
}

extern "C" __global__ void gemv_n1(int M, int K, const float* __restrict__ A, int lda, const float* __restrict__ B,
                                   float* __restrict__ C, int ldc, const float* bias, int relu, const float* mask, int ldmask,
                                   int atomicOut, int roundBf16) {
    int m = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x % 32;
    if (m >= M) return;
    float s = 0.0f;
    for (int k = lane; k < K; k += 32) s = fmaf(gemmOperand(A[(size_t)m * lda + k], roundBf16), gemmOperand(B[k], roundBf16), s);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) storeC(C, ldc, m, 0, s, Epilogue{bias, relu, mask, ldmask, atomicOut});
}

extern "C" __global__ void gemv_m1(int N, int K, const float* __restrict__ A, int lda, const float* __restrict__ B, int ldb,
                                   float* __restrict__ C, int kPerBlock, int roundBf16) {
    int n = blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= N) return;
    int kBegin = blockIdx.y * kPerBlock, kEnd = min(K, kBegin + kPerBlock);
    float s = 0.0f;
    for (int k = kBegin; k < kEnd; k++) {
        s = fmaf(gemmOperand(A[(size_t)k * lda], roundBf16), gemmOperand(B[(size_t)k * ldb + n], roundBf16), s);
    }
    atomicAdd(&C[n], s);
}

// TN weight gradient with at most 16 columns (the bottom MLP's first layer: 13 dense inputs, padded to 16):
// dW[m, n] += sum_k A[k, m] B[k, n]. A 64x64 tile wasted three quarters of its products and read A per tile;
// here a block takes a K range and every row: thread t sums rows t, t + 256, ... over all N columns, with
// 32-deep slices of B in shared memory (read as broadcasts). Reads A once: memory-bound.
#define SKINNY_N 16
#define SKINNY_ROWS 2
#define SKINNY_BK 32
extern "C" __global__ void gemm_tn_skinny(int M, int N, int K, const float* __restrict__ A, int lda, const float* __restrict__ B,
                                         int ldb, float* __restrict__ C, int ldc, int kPerBlock, int roundBf16) {
    __shared__ float bs[SKINNY_BK][SKINNY_N];
    float acc[SKINNY_ROWS][SKINNY_N];
#pragma unroll
    for (int r = 0; r < SKINNY_ROWS; r++)
#pragma unroll
        for (int n = 0; n < SKINNY_N; n++) acc[r][n] = 0.0f;
    int kBegin = blockIdx.y * kPerBlock, kEnd = min(K, kBegin + kPerBlock);
    int m0 = blockIdx.x * blockDim.x * SKINNY_ROWS + threadIdx.x;
    for (int ks = kBegin; ks < kEnd; ks += SKINNY_BK) {
        for (int e = threadIdx.x; e < SKINNY_BK * SKINNY_N; e += blockDim.x) {
            int kk = e / SKINNY_N, n = e % SKINNY_N;
            bs[kk][n] = ks + kk < kEnd && n < N ? gemmOperand(B[(size_t)(ks + kk) * ldb + n], roundBf16) : 0.0f;
        }
        __syncthreads();
        // a whole slice unrolled, so that its loads of A are in flight together (a loop of one load at a
        // time waited on memory for every k)
#pragma unroll
        for (int kk = 0; kk < SKINNY_BK; kk++) {
            bool inK = ks + kk < kEnd;
#pragma unroll
            for (int r = 0; r < SKINNY_ROWS; r++) {
                int m = m0 + r * blockDim.x;
                float a = m < M && inK ? gemmOperand(A[(size_t)(ks + kk) * lda + m], roundBf16) : 0.0f;
#pragma unroll
                for (int n = 0; n < SKINNY_N; n++) acc[r][n] = fmaf(a, bs[kk][n], acc[r][n]);
            }
        }
        __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < SKINNY_ROWS; r++) {
        int m = m0 + r * blockDim.x;
        if (m >= M) continue;
#pragma unroll
        for (int n = 0; n < SKINNY_N; n++) {
            if (n < N) atomicAdd(&C[(size_t)m * ldc + n], acc[r][n]);
        }
    }
}

extern "C" __global__ void outer_k1(int M, int N, const float* __restrict__ A, int lda, const float* __restrict__ B,
                                    float* __restrict__ C, int ldc, const float* bias, int relu, const float* mask, int ldmask,
                                    int atomicOut, int roundBf16) {
    Epilogue e{bias, relu, mask, ldmask, atomicOut};
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (size_t)M * N; i += (size_t)gridDim.x * blockDim.x) {
        int m = (int)(i / N), n = (int)(i % N);
        storeC(C, ldc, m, n, gemmOperand(A[(size_t)m * lda], roundBf16) * gemmOperand(B[n], roundBf16), e);
    }
}

// dst[r * ldd + c] = src[r * lds + c] for r < rows, c < cols: the top MLP's first weight (and its
// gradient) between the flat parameter array and a copy whose rows are padded to a multiple of 4 floats.
extern "C" __global__ void copy_matrix(int rows, int cols, const float* __restrict__ src, int lds, float* __restrict__ dst,
                                       int ldd) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (size_t)rows * cols; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / cols, c = i % cols;
        dst[r * ldd + c] = src[r * lds + c];
    }
}

// ---------------------------------------------------------------------------------------------
// Column sums (bias gradients): db[n] += sum_m dY[m, n]. Block: 32 columns x 8 row lanes.
// ---------------------------------------------------------------------------------------------
// In bf16 mode the summands are rounded to bf16 first, as the weight gradient's GEMM sees them (and as
// the CPU backend's bf16 emulation sums them).
extern "C" __global__ void col_sum(int M, int N, const float* __restrict__ dY, float* __restrict__ db, int roundBf16) {
    __shared__ float part[8][33];
    int tx = threadIdx.x % 32, ty = threadIdx.x / 32;
    int n = blockIdx.x * 32 + tx;
    float s = 0.0f;
    if (n < N) {
        for (int m = blockIdx.y * 8 + ty; m < M; m += gridDim.y * 8) {
            float v = dY[(size_t)m * N + n];
            s += roundBf16 ? __bfloat162float(__float2bfloat16(v)) : v;
        }
    }
    part[ty][tx] = s;
    __syncthreads();
    if (ty == 0 && n < N) {
        float t = 0.0f;
#pragma unroll
        for (int r = 0; r < 8; r++) t += part[r][tx];
        atomicAdd(&db[n], t);
    }
}

// ---------------------------------------------------------------------------------------------
// Dedup of the batch's rows (after RecD, Mudigere et al. 2022: each distinct row is looked up and
// updated once). An open-addressing hash set, cleared to -1 before each step, maps a physical row to
// its index among the batch's distinct rows; inv[i] is that index for lookup i.
// ---------------------------------------------------------------------------------------------
extern "C" __global__ void dedup_rows(int n, int T, const int* __restrict__ ids, const int* __restrict__ tableOffset,
                                      int* hashKeys, int* hashVals, int hashShift, int* uniqueRows,
                                      int* uniqueCount, int* __restrict__ inv) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int key = tableOffset[i % T] + ids[i];
    unsigned mask = (1u << (32 - hashShift)) - 1u;
    unsigned h = ((unsigned)key * 2654435761u) >> hashShift;
    while (true) {
        int prev = atomicCAS(&hashKeys[h], -1, key);
        if (prev == -1) {
            int u = atomicAdd(uniqueCount, 1);
            uniqueRows[u] = key;
            __threadfence();
            atomicExch(&hashVals[h], u);
            inv[i] = u;
            return;
        }
        if (prev == key) {
            volatile int* vals = hashVals;
            int u;
            while ((u = vals[h]) < 0) {
            }
            inv[i] = u;
            return;
        }
        h = (h + 1) & mask;
    }
}

// ---------------------------------------------------------------------------------------------
// Dot interaction. F = T + 1 vectors per example: the bottom MLP output x and the T embedding rows.
// Pair p enumerates (i, j), i > j, row by row: (1,0), (2,0), (2,1), (3,0) ... as torch.tril_indices(F, F, -1).
// One block per example; the F vectors sit in shared memory with a row stride of D + 1 (no bank conflicts).
// ---------------------------------------------------------------------------------------------
__device__ __forceinline__ void pairOf(int p, int& i, int& j) {
    int r = (int)((1.0f + sqrtf(1.0f + 8.0f * (float)p)) * 0.5f);
    while (r * (r - 1) / 2 > p) r--;
    while ((r + 1) * r / 2 <= p) r++;
    i = r;
    j = p - r * (r - 1) / 2;
}

__device__ __forceinline__ void loadVectors(float* sm, int b, int T, int D, const float* x, const float* table,
                                            const int* inv, const int* uniqueRows, int S) {
    int F = T + 1;
    for (int idx = threadIdx.x; idx < F * D; idx += blockDim.x) {
        int f = idx / D, d = idx % D;
        float v;
        if (f == 0) {
            v = x[(size_t)b * D + d];
        } else {
            int row = uniqueRows[inv[b * T + f - 1]];
            v = table[(size_t)row * D + d];
        }
        sm[f * S + d] = v;
    }
}

extern "C" __global__ void interact_fwd(int T, int D, const float* __restrict__ x, const float* __restrict__ table,
                                        const int* __restrict__ inv, const int* __restrict__ uniqueRows,
                                        float* __restrict__ R, int ldr) {
    extern __shared__ float sm[];
    int b = blockIdx.x;
    int F = T + 1, S = D + 1;
    loadVectors(sm, b, T, D, x, table, inv, uniqueRows, S);
    __syncthreads();
    float* out = R + (size_t)b * ldr;
    for (int d = threadIdx.x; d < D; d += blockDim.x) out[d] = sm[d];
    if ((D & 3) == 0 && D <= 32) {
        // narrow rows, register-blocked (on the H200 this was slower than the plain loop below for D = 128:
        // 1.09 against 0.94 ms at batch 65536): a thread takes a 4x4 block of (i, j) vector pairs (block row >= block column) and
        // every 4th dimension, so each value loaded from shared memory feeds 4 FMAs; the 4 threads of a block
        // pair are neighbouring lanes and add their partial sums with two shuffles
        int NB = (F + 3) / 4;
        int items = NB * (NB + 1) / 2 * 4;
        for (int item = threadIdx.x; item < items; item += blockDim.x) {
            int bp = item / 4, part = item % 4;
            int ib = (int)((sqrtf(8.0f * bp + 1.0f) - 1.0f) * 0.5f);
            while (ib * (ib + 1) / 2 > bp) ib--;
            while ((ib + 1) * (ib + 2) / 2 <= bp) ib++;
            int jb = bp - ib * (ib + 1) / 2;
            float acc[4][4];
#pragma unroll
            for (int r = 0; r < 4; r++)
#pragma unroll
                for (int q = 0; q < 4; q++) acc[r][q] = 0.0f;
            for (int d = part; d < D; d += 4) {
                float a[4], c[4];
#pragma unroll
                for (int r = 0; r < 4; r++) {
                    int i = ib * 4 + r, j = jb * 4 + r;
                    a[r] = i < F ? sm[i * S + d] : 0.0f;
                    c[r] = j < F ? sm[j * S + d] : 0.0f;
                }
#pragma unroll
                for (int r = 0; r < 4; r++)
#pragma unroll
                    for (int q = 0; q < 4; q++) acc[r][q] = fmaf(a[r], c[q], acc[r][q]);
            }
            unsigned group = 0xFu << ((threadIdx.x % 32) & ~3u);
#pragma unroll
            for (int r = 0; r < 4; r++)
#pragma unroll
                for (int q = 0; q < 4; q++) {
                    acc[r][q] += __shfl_xor_sync(group, acc[r][q], 1);
                    acc[r][q] += __shfl_xor_sync(group, acc[r][q], 2);
                }
            if (part == 0) {
#pragma unroll
                for (int r = 0; r < 4; r++)
#pragma unroll
                    for (int q = 0; q < 4; q++) {
                        int i = ib * 4 + r, j = jb * 4 + q;
                        if (i < F && j < i) out[D + i * (i - 1) / 2 + j] = acc[r][q];
                    }
            }
        }
        return;
    }
    int P = F * (F - 1) / 2;
    for (int p = threadIdx.x; p < P; p += blockDim.x) {
        int i, j;
        pairOf(p, i, j);
        const float* vi = sm + i * S;
        const float* vj = sm + j * S;
        float s = 0.0f;
        for (int d = 0; d < D; d++) s = fmaf(vi[d], vj[d], s);
        out[D + p] = s;
    }
}

// Backward of the interaction: dT_i = sum_j G_ij T_j with G symmetric, G_ij = dz of pair (i, j), G_ii = 0.
// Writes dx = (dR[:, :D] + dT_0) masked by x > 0 (x is a ReLU output) and adds dT_{t+1} into the
// summed gradient of the row of table t.
// Interaction backward over quads of dimensions: each thread takes one quad for FPT consecutive vectors
// f, so that every T_j quad loaded from shared memory feeds 4 * FPT FMAs; the row gradient is added with
// one 16-byte atomic (sm_90) per quad. Rows are unpadded in shared memory (a warp reads consecutive quads).
template <int FPT>
__device__ __forceinline__ void interactBwdQuads(int b, int T, int D, const float* sm, const float* G, const float* dRow,
                                                 int maskRelu, const int* __restrict__ inv, float* __restrict__ dx,
                                                 float* __restrict__ gradAcc) {
    int F = T + 1, S = D;
    int D4 = D / 4, groups = (F + FPT - 1) / FPT;
    for (int item = threadIdx.x; item < D4 * groups; item += blockDim.x) {
        int q = item % D4, f0 = (item / D4) * FPT;
        float4 acc[FPT];
#pragma unroll
        for (int k = 0; k < FPT; k++) acc[k] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        for (int j = 0; j < F; j++) {
            float4 t = *reinterpret_cast<const float4*>(&sm[j * S + 4 * q]);
#pragma unroll
            for (int k = 0; k < FPT; k++) {
                float g = (f0 + k < F) ? G[(f0 + k) * F + j] : 0.0f;
                acc[k].x = fmaf(g, t.x, acc[k].x);
                acc[k].y = fmaf(g, t.y, acc[k].y);
                acc[k].z = fmaf(g, t.z, acc[k].z);
                acc[k].w = fmaf(g, t.w, acc[k].w);
            }
        }
#pragma unroll
        for (int k = 0; k < FPT; k++) {
            int f = f0 + k;
            if (f >= F) break;
            int d = 4 * q;
            if (f == 0) {
                float r[4] = {acc[k].x, acc[k].y, acc[k].z, acc[k].w};
#pragma unroll
                for (int c = 0; c < 4; c++) {
                    float v = dRow[d + c] + r[c];
                    if (maskRelu && !(sm[d + c] > 0.0f)) v = 0.0f;
                    dx[(size_t)b * D + d + c] = v;
                }
            } else {
                int u = inv[b * T + f - 1];
                atomicAdd(reinterpret_cast<float4*>(&gradAcc[(size_t)u * D + d]), acc[k]);
            }
        }
    }
}

extern "C" __global__ void interact_bwd(int T, int D, const float* __restrict__ x, const float* __restrict__ table,
                                        const int* __restrict__ inv, const int* __restrict__ uniqueRows,
                                        const float* __restrict__ dR, int ldr, int maskRelu,
                                        float* __restrict__ dx, float* __restrict__ gradAcc) {
    extern __shared__ float sm[];
    int b = blockIdx.x;
    int F = T + 1;
    bool quads = (D & 3) == 0;
    // quads: rows unpadded, read as 16-byte vectors (a warp reads consecutive quads: no bank conflicts)
    int S = quads ? D : D + 1;
    float* G = sm + F * S;
    loadVectors(sm, b, T, D, x, table, inv, uniqueRows, S);
    const float* dRow = dR + (size_t)b * ldr;
    for (int f = threadIdx.x; f < F; f += blockDim.x) G[f * F + f] = 0.0f;
    int P = F * (F - 1) / 2;
    for (int p = threadIdx.x; p < P; p += blockDim.x) {
        int i, j;
        pairOf(p, i, j);
        float g = dRow[D + p];
        G[i * F + j] = g;
        G[j * F + i] = g;
    }
    __syncthreads();
    if (quads) {
        // wide rows: 8 vectors per thread; narrow rows (too few quads to fill the block): 1
        if ((D / 4) * ((F + 7) / 8) >= (int)blockDim.x / 2) {
            interactBwdQuads<8>(b, T, D, sm, G, dRow, maskRelu, inv, dx, gradAcc);
        } else {
            interactBwdQuads<1>(b, T, D, sm, G, dRow, maskRelu, inv, dx, gradAcc);
        }
        return;
    }
    for (int idx = threadIdx.x; idx < F * D; idx += blockDim.x) {
        int f = idx / D, d = idx % D;
        float s = 0.0f;
        for (int j = 0; j < F; j++) s = fmaf(G[f * F + j], sm[j * S + d], s);
        if (f == 0) {
            float v = dRow[d] + s;
            if (maskRelu && !(sm[d] > 0.0f)) v = 0.0f;
            dx[(size_t)b * D + d] = v;
        } else {
            int u = inv[b * T + f - 1];
            atomicAdd(&gradAcc[(size_t)u * D + d], s);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The interaction for rows of D = 128 floats (Criteo's common width), one warp per example, F <= FMAX.
// The kernels above hold the F vectors in shared memory and run every product from there: for D = 128
// that read bound the forward at ~1 ms and the backward at ~1.5 ms per batch of 65536 on the H200, about
// four times their memory traffic. Here lane l keeps dims [4l, 4l + 4) of all F vectors in registers,
// loaded with every load in flight at once; a pair's dot product is a 4-wide partial per lane, and the
// partials of 32 pairs are summed across the warp together by a transpose reduction (31 shuffles per 32
// pairs rather than 5 per pair). Loops run over compile-time indices (fully unrolled), so v[] stays in
// registers; FMAX is 8, 16 or 32 (a kernel each) and vectors f >= F are zero.
// ---------------------------------------------------------------------------------------------
#define I128_WARPS 4

// Row i of pair p (the enumeration of pairOf); constant-folded where p is a compile-time constant.
__host__ __device__ constexpr int pairRowOf(int p) {
    int i = 1;
    while ((i + 1) * i / 2 <= p) i++;
    return i;
}

__device__ __forceinline__ float dot4(float4 a, float4 b) {
    return fmaf(a.x, b.x, fmaf(a.y, b.y, fmaf(a.z, b.z, a.w * b.w)));
}

__device__ __forceinline__ void fma4(float4& acc, float g, float4 v) {
    acc.x = fmaf(g, v.x, acc.x);
    acc.y = fmaf(g, v.y, acc.y);
    acc.z = fmaf(g, v.z, acc.z);
    acc.w = fmaf(g, v.w, acc.w);
}

// s[k] per lane -> lane l returns the warp's sum of s[l]. Each step halves the values a lane keeps: the
// half whose index bit matches the lane's bit stays, the other half goes to the partner lane.
__device__ __forceinline__ float transposeSum32(float (&s)[32], int lane) {
#pragma unroll
    for (int step = 0; step < 5; step++) {
        const int w = 16 >> step;
        bool upper = (lane & w) != 0;
#pragma unroll
        for (int k = 0; k < 16; k++) {  // a constant bound, so that both loops unroll and s[] stays in registers
            if (k < w) {
                float send = upper ? s[k] : s[k + w];
                float keep = upper ? s[k + w] : s[k];
                s[k] = keep + __shfl_xor_sync(0xffffffffu, send, w);
            }
        }
    }
    return s[0];
}

// Loads example b's vectors: v[0] = x, v[f] = the row of table f - 1. Lane t < T also returns the
// distinct-row index of table t's lookup (u), for the row gradient.
template <int FMAX>
__device__ __forceinline__ int loadVectors128(int b, int T, const float* __restrict__ x, const float* __restrict__ table,
                                              const int* __restrict__ inv, const int* __restrict__ uniqueRows, int lane,
                                              float4 (&v)[FMAX]) {
    int u = lane < T ? inv[(size_t)b * T + lane] : 0;
    int row = lane < T ? uniqueRows[u] : 0;
    v[0] = reinterpret_cast<const float4*>(x + (size_t)b * 128)[lane];
#pragma unroll
    for (int f = 1; f < FMAX; f++) {
        int r = __shfl_sync(0xffffffffu, row, f - 1);
        v[f] = f <= T ? reinterpret_cast<const float4*>(table + (size_t)r * 128)[lane] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
    return u;
}

template <int FMAX>
__device__ __forceinline__ void interactFwd128(int batch, int T, const float* __restrict__ x, const float* __restrict__ table,
                                               const int* __restrict__ inv, const int* __restrict__ uniqueRows,
                                               float* __restrict__ R, int ldr) {
    int b = blockIdx.x * I128_WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (b >= batch) return;
    float4 v[FMAX];
    loadVectors128<FMAX>(b, T, x, table, inv, uniqueRows, lane, v);
    float* out = R + (size_t)b * ldr;
    if ((ldr & 3) == 0) {
        reinterpret_cast<float4*>(out)[lane] = v[0];
    } else {
        out[4 * lane] = v[0].x;
        out[4 * lane + 1] = v[0].y;
        out[4 * lane + 2] = v[0].z;
        out[4 * lane + 3] = v[0].w;
    }
    constexpr int PMAX = FMAX * (FMAX - 1) / 2;
    int F = T + 1, P = F * (F - 1) / 2;
#pragma unroll
    for (int g = 0; g < (PMAX + 31) / 32; g++) {
        if (32 * g < P) {  // the same for the whole warp
            float s[32];
#pragma unroll
            for (int k = 0; k < 32; k++) {
                const int p = 32 * g + k;
                if (p < PMAX) {
                    const int i = pairRowOf(p), j = p - i * (i - 1) / 2;
                    s[k] = dot4(v[i], v[j]);  // zero for pairs p >= P (vector i >= F)
                } else {
                    s[k] = 0.0f;
                }
            }
            float sum = transposeSum32(s, lane);
            if (32 * g + lane < P) out[128 + 32 * g + lane] = sum;
        }
    }
}

// dT_f = sum_j G_fj T_j over the symmetric pair gradients G (zero diagonal), kept per warp in shared
// memory and read as broadcast 16-byte loads; dx = dR[:, :D] + dT_0, masked by x > 0; dT_f (f >= 1) is
// added to its distinct row's gradient with one 16-byte atomic per lane.
template <int FMAX>
__device__ __forceinline__ void interactBwd128(int batch, int T, const float* __restrict__ x, const float* __restrict__ table,
                                               const int* __restrict__ inv, const int* __restrict__ uniqueRows,
                                               const float* __restrict__ dR, int ldr, int maskRelu,
                                               float* __restrict__ dx, float* __restrict__ gradAcc, float* G) {
    int b = blockIdx.x * I128_WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (b >= batch) return;
    float4 v[FMAX];
    int u = loadVectors128<FMAX>(b, T, x, table, inv, uniqueRows, lane, v);
    const float* dRow = dR + (size_t)b * ldr;
    int F = T + 1, P = F * (F - 1) / 2;
    for (int e = lane; e < FMAX * FMAX; e += 32) G[e] = 0.0f;
    __syncwarp();
    for (int p = lane; p < P; p += 32) {
        int i, j;
        pairOf(p, i, j);
        float g = dRow[128 + p];
        G[i * FMAX + j] = g;
        G[j * FMAX + i] = g;
    }
    __syncwarp();
#pragma unroll
    for (int f = 0; f < FMAX; f++) {
        if (f < F) {
            float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            const float4* gRow = reinterpret_cast<const float4*>(G + f * FMAX);
#pragma unroll
            for (int j4 = 0; j4 < FMAX / 4; j4++) {
                if (4 * j4 < F) {
                    float4 g = gRow[j4];
                    fma4(acc, g.x, v[4 * j4]);
                    fma4(acc, g.y, v[4 * j4 + 1]);
                    fma4(acc, g.z, v[4 * j4 + 2]);
                    fma4(acc, g.w, v[4 * j4 + 3]);
                }
            }
            if (f == 0) {
                float4 d = (ldr & 3) == 0 ? reinterpret_cast<const float4*>(dRow)[lane]
                                          : make_float4(dRow[4 * lane], dRow[4 * lane + 1], dRow[4 * lane + 2], dRow[4 * lane + 3]);
                d.x += acc.x; d.y += acc.y; d.z += acc.z; d.w += acc.w;
                if (maskRelu) {
                    if (!(v[0].x > 0.0f)) d.x = 0.0f;
                    if (!(v[0].y > 0.0f)) d.y = 0.0f;
                    if (!(v[0].z > 0.0f)) d.z = 0.0f;
                    if (!(v[0].w > 0.0f)) d.w = 0.0f;
                }
                reinterpret_cast<float4*>(dx + (size_t)b * 128)[lane] = d;
            } else {
                int uf = __shfl_sync(0xffffffffu, u, f - 1);
                atomicAdd(reinterpret_cast<float4*>(gradAcc + (size_t)uf * 128) + lane, acc);
            }
        }
    }
}

#define INTERACT128_KERNELS(FMAX)                                                                                   \
    extern "C" __global__ void __launch_bounds__(32 * I128_WARPS) interact128_fwd_f##FMAX(                         \
        int batch, int T, const float* __restrict__ x, const float* __restrict__ table, const int* __restrict__ inv, \
        const int* __restrict__ uniqueRows, float* __restrict__ R, int ldr) {                                       \
        interactFwd128<FMAX>(batch, T, x, table, inv, uniqueRows, R, ldr);                                          \
    }                                                                                                               \
    extern "C" __global__ void __launch_bounds__(32 * I128_WARPS) interact128_bwd_f##FMAX(                         \
        int batch, int T, const float* __restrict__ x, const float* __restrict__ table, const int* __restrict__ inv, \
        const int* __restrict__ uniqueRows, const float* __restrict__ dR, int ldr, int maskRelu,                    \
        float* __restrict__ dx, float* __restrict__ gradAcc) {                                                      \
        __shared__ __align__(16) float G[I128_WARPS][FMAX * FMAX];                                                  \
        interactBwd128<FMAX>(batch, T, x, table, inv, uniqueRows, dR, ldr, maskRelu, dx, gradAcc,                   \
                             G[threadIdx.x / 32]);                                                                  \
    }
INTERACT128_KERNELS(8)
INTERACT128_KERNELS(16)
INTERACT128_KERNELS(32)

// ---------------------------------------------------------------------------------------------
// Loss: mean binary cross-entropy with logits, its gradient, and the probabilities (before the update).
// Also counts the step on the device (Adam's bias correction reads it), so a captured graph needs no
// per-step parameter. Scoring alone passes no labels and no step counter.
// ---------------------------------------------------------------------------------------------
extern "C" __global__ void bce_loss(int B, const float* __restrict__ logits, const unsigned char* __restrict__ labels,
                                    float* __restrict__ probs, float* __restrict__ dlogits, double* lossSum,
                                    int* stepCounter) {
    __shared__ float part[256];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    float l = 0.0f;
    if (i < B) {
        float z = logits[i];
        float y = (labels && labels[i]) ? 1.0f : 0.0f;
        float p = 1.0f / (1.0f + expf(-z));
        probs[i] = p;
        dlogits[i] = (p - y) / (float)B;
        l = fmaxf(z, 0.0f) - z * y + log1pf(expf(-fabsf(z)));
    }
    if (i == 0 && stepCounter) atomicAdd(stepCounter, 1);
    part[threadIdx.x] = l;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) atomicAdd(lossSum, (double)part[0]);
}

// ---------------------------------------------------------------------------------------------
// Sparse update, once per distinct row (one warp per row). Row-wise Adagrad as FBGEMM/TorchRec:
// one accumulator per row gains the mean of the squared row gradient; SGD when rowwise == 0.
// ---------------------------------------------------------------------------------------------
// The update clears each row gradient it consumed, so that the next step finds gradAcc zero without a
// memset of the whole workspace (batch x tables x D floats: 0.3 ms at 65536 x 26 x 128 on the H200).
extern "C" __global__ void emb_update(const int* __restrict__ uniqueCount, const int* __restrict__ uniqueRows,
                                      float* __restrict__ gradAcc, float* __restrict__ table,
                                      float* __restrict__ accum, int D, float lr, float eps, int rowwise,
                                      int* nonFinite) {
    int warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x % 32;
    if (warp >= *uniqueCount) return;
    int row = uniqueRows[warp];
    float* g = gradAcc + (size_t)warp * D;
    float* w = table + (size_t)row * D;
    float scale = lr;
    if (rowwise) {
        float ss = 0.0f;
        for (int d = lane; d < D; d += 32) ss = fmaf(g[d], g[d], ss);
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
        float s = accum[row] + ss / (float)D;
        __syncwarp();
        if (lane == 0) accum[row] = s;
        scale = lr / (sqrtf(s) + eps);
    }
    bool bad = false;
    for (int d = lane; d < D; d += 32) {
        float v = w[d] - scale * g[d];
        w[d] = v;
        bad |= !isfinite(v);
    }
    // a loop of its own: stores between the loads above kept the next loads from being issued early
    // (measured on the H200: the update took 1.2 ms instead of 0.2 at batch 65536, kaggle128)
    for (int d = lane; d < D; d += 32) g[d] = 0.0f;
    if (bad) *nonFinite = 1;
}

// ---------------------------------------------------------------------------------------------
// Dense update over the flat parameter array. kind: 0 SGD, 1 Adagrad, 2 Adam (Kingma and Ba, 2015).
// ---------------------------------------------------------------------------------------------
extern "C" __global__ void dense_update(int n, int kind, float* __restrict__ w, const float* __restrict__ g,
                                        float* __restrict__ s1, float* __restrict__ s2, float lr, float eps,
                                        float beta1, float beta2, const int* stepCounter, int* nonFinite) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float gi = g[i];
    float v = w[i];
    if (kind == 0) {
        v -= lr * gi;
    } else if (kind == 1) {
        float s = s1[i] + gi * gi;
        s1[i] = s;
        v -= lr * gi / (sqrtf(s) + eps);
    } else {
        int t = *stepCounter;
        float m = beta1 * s1[i] + (1.0f - beta1) * gi;
        float u = beta2 * s2[i] + (1.0f - beta2) * gi * gi;
        s1[i] = m;
        s2[i] = u;
        float mHat = m / (1.0f - powf(beta1, (float)t));
        float uHat = u / (1.0f - powf(beta2, (float)t));
        v -= lr * mHat / (sqrtf(uHat) + eps);
    }
    w[i] = v;
    if (!isfinite(v)) *nonFinite = 1;
}

// ---------------------------------------------------------------------------------------------
// GPU embedding cache: for each planned slot, write the evicted row (weights and row-wise accumulator)
// back to the host tables, then load the admitted row into the slot. The host tables are pinned,
// mapped host memory in chunks (row r lives in chunk r / rowsPerChunk), so one kernel on the prefetch
// stream moves rows both ways.
// ---------------------------------------------------------------------------------------------
__device__ __forceinline__ float* hostRow(const unsigned long long* chunks, long long rowsPerChunk, long long row, int D) {
    return reinterpret_cast<float*>(chunks[row / rowsPerChunk]) + (row % rowsPerChunk) * (long long)D;
}

// Copies a row of D floats, one warp: four loads in flight per lane before the first store, as one side is a
// bus round trip away.
__device__ __forceinline__ void copyRowWarp(const float* src, float* dst, int D, int lane) {
    for (int d0 = 0; d0 < D; d0 += 128) {
        float v[4];
#pragma unroll
        for (int q = 0; q < 4; q++) {
            int d = d0 + q * 32 + lane;
            if (d < D) v[q] = src[d];
        }
#pragma unroll
        for (int q = 0; q < 4; q++) {
            int d = d0 + q * 32 + lane;
            if (d < D) dst[d] = v[q];
        }
    }
}

// Lanes that move one row together in cache_swap: a power of two up to 32, one float4 a lane when D is a multiple
// of 4 (16 floats: 4 lanes, 8 rows a warp), else one float a lane.
__device__ __forceinline__ int rowLanes(int D) {
    int units = (D & 3) == 0 ? D >> 2 : D;
    int g = 1;
    while (g < units && g < 32) g <<= 1;
    return g;
}

// One group of g lanes swaps one entry: the evicted row's values (device) and the loaded row's (host, a bus
// round trip away) are both loaded, up to 2 units a lane, before either is stored; each lane stores only the
// units it loaded, so the slot's old value leaves before the new one overwrites it.
template <typename V>
__device__ __forceinline__ void swapRowGroup(V* c, V* hEv, const V* hLd, int units, int g, int m) {
    for (int u0 = 0; u0 < units; u0 += 2 * g) {
        V out[2], in[2];
#pragma unroll
        for (int q = 0; q < 2; q++) {
            int u = u0 + q * g + m;
            if (u < units) {
                if (hEv) out[q] = c[u];
                if (hLd) in[q] = hLd[u];
            }
        }
#pragma unroll
        for (int q = 0; q < 2; q++) {
            int u = u0 + q * g + m;
            if (u < units) {
                if (hEv) hEv[u] = out[q];
                if (hLd) c[u] = in[q];
            }
        }
    }
}

// The entry count is n, or *count when count is given (a plan made on the GPU): groups of rowLanes(D) lanes
// stride over the entries. A plan's swap is bound by the bus (its address translation), not by the rows in
// flight, so it runs in few blocks (DlrmKernels.cacheSwap): a multiprocessor that holds one has fewer registers
// for the training step's GEMM blocks beside it.
extern "C" __global__ void __launch_bounds__(1024) cache_swap(int n, const int* __restrict__ count, const int* __restrict__ slots,
                                                              const int* __restrict__ evictRows, const int* __restrict__ loadRows,
                                                              float* __restrict__ cacheTable, float* __restrict__ cacheAccum,
                                                              const unsigned long long* __restrict__ tableChunks, long long tableRowsPerChunk,
                                                              const unsigned long long* __restrict__ accumChunks, long long accumRowsPerChunk, int D) {
    if (count) n = min(n, *count);
    int g = rowLanes(D), m = threadIdx.x & (g - 1);
    int groups = gridDim.x * blockDim.x / g;
    for (int e = (blockIdx.x * blockDim.x + threadIdx.x) / g; e < n; e += groups) {
        size_t slot = (size_t)slots[e];
        int ev = evictRows[e], ld = loadRows[e];
        float* c = cacheTable + slot * D;
        float* hEv = ev >= 0 ? hostRow(tableChunks, tableRowsPerChunk, ev, D) : nullptr;
        const float* hLd = ld >= 0 ? hostRow(tableChunks, tableRowsPerChunk, ld, D) : nullptr;
        float accEv = 0.0f, accLd = 0.0f;
        bool acc = cacheAccum && m == 0;
        if (acc) {
            if (ev >= 0) accEv = cacheAccum[slot];
            if (ld >= 0) accLd = *hostRow(accumChunks, accumRowsPerChunk, ld, 1);
        }
        // float4 units where every row address is 16-byte aligned (the tables' chunks and the cache are page-aligned)
        if ((D & 3) == 0 && ((reinterpret_cast<size_t>(c) | reinterpret_cast<size_t>(hEv) | reinterpret_cast<size_t>(hLd)) & 15) == 0) {
            swapRowGroup(reinterpret_cast<float4*>(c), reinterpret_cast<float4*>(hEv), reinterpret_cast<const float4*>(hLd),
                         D >> 2, g, m);
        } else {
            swapRowGroup(c, hEv, hLd, D, g, m);
        }
        if (acc) {
            if (ev >= 0) *hostRow(accumChunks, accumRowsPerChunk, ev, 1) = accEv;
            if (ld >= 0) cacheAccum[slot] = accLd;
        }
    }
}

// Copies the listed rows (cache slots) back to the host tables without evicting them (state() flush).
// Without a slot list, entry e is slot e and rows is the directory's slot -> row map (-1: empty slot).
extern "C" __global__ void cache_flush(int n, const int* __restrict__ slots, const int* __restrict__ rows,
                                       const float* cacheTable, const float* cacheAccum,
                                       const unsigned long long* __restrict__ tableChunks, long long tableRowsPerChunk,
                                       const unsigned long long* __restrict__ accumChunks, long long accumRowsPerChunk,
                                       int D) {
    int e = (blockIdx.x * blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x % 32;
    if (e >= n || rows[e] < 0) return;
    size_t slot = slots ? (size_t)slots[e] : (size_t)e;
    float* h = hostRow(tableChunks, tableRowsPerChunk, rows[e], D);
    for (int d = lane; d < D; d += 32) h[d] = cacheTable[slot * D + d];
    if (cacheAccum && lane == 0) *hostRow(accumChunks, accumRowsPerChunk, rows[e], 1) = cacheAccum[slot];
}

// Copy-engine swap, for small rows: cache_swap moves a 64-byte row per bus request and is bound by the bus's
// per-request cost, not its bandwidth. Instead cache_pack gathers a plan's n swap entries into one contiguous
// buffer that a single copy-engine transfer takes to the host, host threads place the evicted rows and gather
// the rows to load (HostRowMover), one transfer brings those back, and cache_unpack puts them into their
// slots. One warp per entry. Packed layouts (entry e, D floats a row; accumulators only when cacheAccum is
// given), as HostRowMover reads and writes them:
//   cache_pack    int evicted row [e] (-1: the slot was empty), int loaded row [n + e],
//                 float evicted weights [2n + eD, +D), float evicted accumulator [2n + nD + e]
//   cache_unpack  float loaded weights [eD, +D), float loaded accumulator [nD + e]
extern "C" __global__ void cache_pack(int n, const int* __restrict__ slots, const int* __restrict__ evictRows,
                                      const int* __restrict__ loadRows, const float* __restrict__ cacheTable,
                                      const float* __restrict__ cacheAccum, int D, float* __restrict__ packed) {
    int e = (blockIdx.x * blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x % 32;
    if (e >= n) return;
    int ev = evictRows[e];
    size_t slot = (size_t)slots[e];
    float* rows = packed + 2 * (size_t)n;
    if (lane == 0) {
        int* lists = reinterpret_cast<int*>(packed);
        lists[e] = ev;
        lists[n + e] = loadRows[e];
        if (cacheAccum && ev >= 0) rows[(size_t)n * D + e] = cacheAccum[slot];
    }
    if (ev >= 0) copyRowWarp(cacheTable + slot * D, rows + (size_t)e * D, D, lane);
}

extern "C" __global__ void cache_unpack(int n, const int* __restrict__ slots, const int* __restrict__ loadRows,
                                        const float* __restrict__ packed, float* __restrict__ cacheTable,
                                        float* __restrict__ cacheAccum, int D) {
    int e = (blockIdx.x * blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x % 32;
    if (e >= n || loadRows[e] < 0) return;
    size_t slot = (size_t)slots[e];
    copyRowWarp(packed + (size_t)e * D, cacheTable + slot * D, D, lane);
    if (cacheAccum && lane == 0) cacheAccum[slot] = packed[(size_t)n * D + e];
}

// ---------------------------------------------------------------------------------------------
// GPU embedding cache directory: which cache slot holds which row, planned on the GPU so that the
// host only forwards a batch's ids (planning 1.7 M lookups on the host took longer than a step).
//   rowSlot[row]    slot of a global row, -1 when not cached (-2 while a plan is loading it)
//   rowCount[row]   accesses of the row (halved every few hundred plans, so a moved hot set ages out)
//   slotRow[slot]   row in a slot, -1 when empty;  slotEpoch[slot] ticket of the last plan that used it
//   slotCount[slot] rowCount of the slot's row, kept beside it so that the victim sweep streams through the
//                   slots instead of gathering 1 count per slot from rowCount at random
// A plan (ticket `epoch`) runs on one stream: lookup pins the batch's cached rows, gives their lookups their
// slots and lists the misses; cache_sweep claims as many victims as there are misses, sweeping the slots from a
// cursor that goes round the cache from plan to plan (a clock hand) and taking slots not pinned by a batch still to
// train (epoch < oldestLive) whose count is at most a log2 threshold; install rewires the directory and cache_swap
// (or cache_pack and cache_unpack, the host between them) writes the victims back and loads the misses;
// assign_misses gives the missed lookups their new slots. Frequency-aware eviction at log2 granularity, as
// Colossal-AI's cache (2022), on the GPU, with the clock sweep of an approximate LFU: a plan reads the few
// thousand slots ahead of the hand instead of every slot (two passes over all 675,252 of kaggle16's 2% cache took
// a whole-GPU grid twice per plan beside a 0.57 ms step at batch 2048).
//   counters: [0] misses, [1] victims claimed (claims past [0] are undone), [2] the sweep's first threshold,
//             [3] shortfall (fewer candidates than misses), [4] victims found, [5] lookups of rows not cached,
//             [6] sweep chunks taken, [7] sweep blocks done, [8..40] histogram of the count bins of the candidates
//             the sweep's first pass saw, [41] sweep chunks done, [42] slots swept; totalMisses accumulates
//             over plans.
//   clock:    [0] the hand (a slot), [1] the threshold of the next sweep's first pass, kept from plan to plan.
// ---------------------------------------------------------------------------------------------
#define DIR_HIST 8
#define DIR_BINS 33
#define SWEEP_UNROLL 4
#define SWEEP_EVERY_BIN (DIR_BINS - 1)

__device__ __forceinline__ int countBin(unsigned c) { return 32 - __clz(c); }

// Global row of lookup i (tableOffset has T + 1 entries), or -1 for an id outside its table: a plan is queued
// before the host has checked the batch's ids, so the kernels skip such ids instead of touching memory out of
// bounds; the host drops a plan whose batch fails its check before any step uses it.
__device__ __forceinline__ int cacheRow(int i, const int T, const int* __restrict__ ids, const int* __restrict__ tableOffset) {
    int t = i % T, id = ids[i];
    return (unsigned)id < (unsigned)(tableOffset[t + 1] - tableOffset[t]) ? tableOffset[t] + id : -1;
}

extern "C" __global__ void cache_lookup(int n, int T, const int* __restrict__ ids, const int* __restrict__ tableOffset,
                                        int* rowSlot, unsigned* rowCount, int* slotEpoch, unsigned* slotCount, int epoch,
                                        int* __restrict__ slots, int* __restrict__ missRows, int* __restrict__ missLookups,
                                        int* counters) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int row = cacheRow(i, T, ids, tableOffset);
    if (row < 0) {
        slots[i] = 0;  // never used: the host drops the plan
        return;
    }
    if (rowCount[row] < 0x7fffffffu) atomicAdd(&rowCount[row], 1u);
    int s = rowSlot[row];
    if (s >= 0) {
        if (slotCount[s] < 0x7fffffffu) atomicAdd(&slotCount[s], 1u);
        slotEpoch[s] = epoch;  // pinned: every thread of the row writes the same value
        slots[i] = s;
        return;
    }
    if (s == -1 && atomicCAS(&rowSlot[row], -1, -2) == -1) {
        missRows[atomicAdd(&counters[0], 1)] = row;  // the first lookup of a missing row lists it once
    }
    missLookups[atomicAdd(&counters[5], 1)] = i;  // every lookup of it gets its slot once installed
}

// The threshold of pass p of a sweep that starts at `first`: doubling steps up to every count, so that a sweep
// that finds too few cold slots ends in a few passes.
__device__ __forceinline__ int sweepThreshold(int first, int pass) {
    return pass >= 6 ? SWEEP_EVERY_BIN : min(SWEEP_EVERY_BIN, first + (1 << pass) - 1);
}

// Claims the plan's victims. Pass p sweeps every slot once, from the hand on, taking candidates whose count bin
// is at most sweepThreshold(first, p); blocks take chunks of SWEEP_UNROLL * blockDim.x slots in turn until the
// misses are covered, and a chunk of a later pass waits until every chunk of the earlier ones is done (they are
// held by running blocks), so that no warmer slot is claimed while a colder one is still to be seen. A slot is
// claimed with a compare-and-swap of its epoch, and claims past the misses are undone. The last block to finish
// moves the hand past the slots swept and sets the next first threshold: the lowest bin whose candidates, as
// densely as this sweep's first pass met them, would cover the misses within `budget` times as many slots (or
// the whole cache).
extern "C" __global__ void cache_sweep(int cap, const int* __restrict__ slotRow, int* slotEpoch,
                                       const unsigned* __restrict__ slotCount, int oldestLive, int epoch, int budget,
                                       int* counters, int* __restrict__ victims, int* clock, unsigned long long* totalMisses) {
    __shared__ int h[DIR_BINS];
    __shared__ int chunk;
    __shared__ bool lastBlock;
    for (int b = threadIdx.x; b < DIR_BINS; b += blockDim.x) h[b] = 0;
    const int need = counters[0], hand = clock[0], first = clock[1], lane = threadIdx.x & 31;
    const int chunkSize = SWEEP_UNROLL * blockDim.x, chunksPerPass = (cap + chunkSize - 1) / chunkSize;
    int passes = 1;
    while (sweepThreshold(first, passes - 1) < SWEEP_EVERY_BIN) passes++;
    volatile int* c = counters;
    for (;;) {
        __syncthreads();  // every thread has read the last chunk (and h is zeroed)
        if (threadIdx.x == 0) {
            int k = c[1] >= need ? -1 : atomicAdd(&counters[6], 1);
            if (k >= chunksPerPass * passes) k = -1;
            if (k >= chunksPerPass) {
                while (c[41] < k / chunksPerPass * chunksPerPass) { }  // the earlier passes' chunks, held by running blocks
                __threadfence();
                if (c[1] >= need) {
                    atomicAdd(&counters[41], 1);  // done, unswept: no chunk of a later pass waits for it in vain
                    k = -1;
                }
            }
            chunk = k;
        }
        __syncthreads();
        if (chunk < 0) break;
        const int pass = chunk / chunksPerPass, start = chunk % chunksPerPass * chunkSize;
        const int threshold = sweepThreshold(first, pass);
        int slot[SWEEP_UNROLL], ep[SWEEP_UNROLL], row[SWEEP_UNROLL];
        unsigned count[SWEEP_UNROLL];
        // every slot's fields loaded before any is used: a small grid still has many loads in flight
#pragma unroll
        for (int k = 0; k < SWEEP_UNROLL; k++) {
            int q = start + k * blockDim.x + threadIdx.x;
            bool in = q < cap;
            slot[k] = in ? (int)(((long long)hand + q) % cap) : 0;
            ep[k] = in ? __ldcg(&slotEpoch[slot[k]]) : 0x7fffffff;  // from L2: claims of earlier passes; past the end: never a candidate
            row[k] = in ? slotRow[slot[k]] : -1;
            count[k] = in ? slotCount[slot[k]] : 0u;
        }
#pragma unroll
        for (int k = 0; k < SWEEP_UNROLL; k++) {
            int bin = row[k] < 0 ? 0 : countBin(count[k]);
            bool candidate = ep[k] < oldestLive, seen = candidate && pass == 0;
            unsigned counted = __ballot_sync(0xffffffffu, seen);
            if (seen) {  // one shared atomic per bin a warp: most candidates share one or two bins
                unsigned peers = __match_any_sync(counted, bin);
                if (lane == __ffs(peers) - 1) atomicAdd(&h[bin], __popc(peers));
            }
            bool claimed = candidate && bin <= threshold && atomicCAS(&slotEpoch[slot[k]], ep[k], epoch) == ep[k];
            // one atomic per warp: the warp's claims take consecutive victim positions
            unsigned mask = __ballot_sync(0xffffffffu, claimed);
            if (!mask) continue;
            int leader = __ffs(mask) - 1, base = 0;
            if (lane == leader) base = atomicAdd(&counters[1], __popc(mask));
            base = __shfl_sync(0xffffffffu, base, leader);
            if (claimed) {
                int v = base + __popc(mask & ((1u << lane) - 1));
                if (v < need) victims[v] = slot[k];
                else slotEpoch[slot[k]] = ep[k];  // not needed: no longer claimed
            }
        }
        __syncthreads();  // the chunk's claims are made before it counts as done
        if (threadIdx.x == 0) {
            __threadfence();
            atomicAdd(&counters[42], min(chunkSize, cap - start));
            atomicAdd(&counters[41], 1);
        }
    }
    for (int b = threadIdx.x; b < DIR_BINS; b += blockDim.x) {
        if (h[b]) atomicAdd(&counters[DIR_HIST + b], h[b]);
    }
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) lastBlock = atomicAdd(&counters[7], 1) == gridDim.x - 1;
    __syncthreads();
    if (!lastBlock || threadIdx.x != 0) return;
    __threadfence();
    int claimed = c[1], swept = c[42];
    c[2] = first;
    c[3] = claimed < need ? 1 : 0;
    c[4] = min(claimed, need);
    *totalMisses += need;
    if (need == 0) return;
    long long seen = min(swept, cap), reach = min((long long)budget * need, (long long)cap), cum = 0;
    int next = SWEEP_EVERY_BIN;
    for (int b = 0; b < DIR_BINS; b++) {
        cum += c[DIR_HIST + b];
        if ((double)cum * reach >= 1.25 * need * seen) {
            next = b;
            break;
        }
    }
    clock[0] = (int)(((long long)hand + swept) % cap);
    clock[1] = next;
}

// One thread per miss: the victim's old row leaves the directory, the missing row takes its slot, and
// the swap lists for cache_swap are written (evicted row, or -1 for an empty slot). A miss without a
// victim (shortfall) is left uncached and flagged; the host refuses the step's result.
extern "C" __global__ void cache_install(int maxMisses, const int* counters, const int* __restrict__ missRows,
                                         const int* __restrict__ victims, int* rowSlot, int* slotRow,
                                         const unsigned* __restrict__ rowCount, unsigned* __restrict__ slotCount,
                                         int* __restrict__ swapSlot, int* __restrict__ swapEvict, int* __restrict__ swapLoad) {
    int n = min(maxMisses, counters[0]), claimed = min(n, counters[1]);
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        int row = missRows[i];
        if (i >= claimed) {
            rowSlot[row] = -1;
            swapSlot[i] = 0; swapEvict[i] = -1; swapLoad[i] = -1;
            continue;
        }
        int s = victims[i], old = slotRow[s];
        if (old >= 0) rowSlot[old] = -1;
        slotRow[s] = row;
        slotCount[s] = rowCount[row];
        rowSlot[row] = s;
        swapSlot[i] = s; swapEvict[i] = old; swapLoad[i] = row;
    }
}

// The slots of the lookups whose rows were not cached (cache_lookup gave the others theirs).
extern "C" __global__ void cache_assign_misses(const int* counters, const int* __restrict__ missLookups, int T,
                                               const int* __restrict__ ids, const int* __restrict__ tableOffset,
                                               const int* __restrict__ rowSlot, int* __restrict__ slots) {
    int n = counters[5];
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < n; j += gridDim.x * blockDim.x) {
        int i = missLookups[j], s = rowSlot[cacheRow(i, T, ids, tableOffset)];
        slots[i] = s < 0 ? 0 : s;  // only after a shortfall, which the host reports
    }
}

// Halves the access counts of the cached rows (the host planner's aging, on the GPU).
extern "C" __global__ void cache_age(int cap, const int* __restrict__ slotRow, unsigned* rowCount, unsigned* slotCount) {
    int s = blockIdx.x * blockDim.x + threadIdx.x;
    if (s >= cap) return;
    int r = slotRow[s];
    if (r >= 0) {
        rowCount[r] >>= 1;
        slotCount[s] >>= 1;
    }
}

// Adds access counts seen elsewhere (feature-stats heavy hitters) to rows' counts, saturating.
extern "C" __global__ void cache_add_counts(int n, const int* __restrict__ rows, const unsigned* __restrict__ counts,
                                            unsigned* rowCount, const int* __restrict__ rowSlot, unsigned* slotCount) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    unsigned old = atomicAdd(&rowCount[rows[i]], counts[i]);
    if (old + counts[i] > 0x7fffffffu || old + counts[i] < old) rowCount[rows[i]] = 0x7fffffffu;
    int s = rowSlot[rows[i]];  // between plans: a slot, or -1
    if (s >= 0) {
        old = atomicAdd(&slotCount[s], counts[i]);
        if (old + counts[i] > 0x7fffffffu || old + counts[i] < old) slotCount[s] = 0x7fffffffu;
    }
}

// Deterministic initialisation for benchmarks that need no host copy of a model: uniform in [-scale, scale)
// from a counter-based hash (SplitMix64) of (seed, index).
extern "C" __global__ void fill_uniform(size_t n, float* out, unsigned long long seed, float scale, size_t firstIndex) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (; i < n; i += stride) {
        unsigned long long z = seed + 0x9E3779B97F4A7C15ull * (firstIndex + i + 1);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        float u = (float)(z >> 40) * (1.0f / 16777216.0f);
        out[i] = (2.0f * u - 1.0f) * scale;
    }
}
