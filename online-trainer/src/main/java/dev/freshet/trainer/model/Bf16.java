package dev.freshet.trainer.model;

/**
 * bfloat16 rounding, to emulate on the CPU what a GPU's bf16 tensor-core GEMM sees: an fp32 value
 * keeps its sign, its 8 exponent bits and the top 7 mantissa bits, rounded to nearest, ties to even
 * (as CUDA's {@code __float2bfloat16_rn}). NaN stays NaN.
 */
public final class Bf16 {
    private Bf16() {
    }

    public static float round(float v) {
        int bits = Float.floatToRawIntBits(v);
        if ((bits & 0x7F800000) == 0x7F800000) {
            return v; // Inf or NaN: keep (a NaN must not round into Inf)
        }
        int lsb = (bits >>> 16) & 1;
        bits += 0x7FFF + lsb;
        return Float.intBitsToFloat(bits & 0xFFFF0000);
    }

    /** Rounds {@code src[srcOff, srcOff + n)} into {@code dst[dstOff, dstOff + n)}. */
    public static void round(float[] src, int srcOff, float[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = round(src[srcOff + i]);
        }
    }
}
