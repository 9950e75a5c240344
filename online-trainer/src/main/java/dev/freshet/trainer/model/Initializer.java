package dev.freshet.trainer.model;

import dev.freshet.trainer.DenseParameters;
import dev.freshet.trainer.LayerShape;
import dev.freshet.trainer.ModelConfig;

/**
 * Seeded initialisation, a pure function of {@code (config.seed, table, row)} for embedding rows and of
 * {@code (config.seed, layer)} for MLP layers, so that rows can be initialised in any order, on any
 * number of threads, and give the same model on every machine and backend (the CUDA backend
 * initialises on the host with this class). Distributions follow the facebookresearch/dlrm reference
 * ({@code dlrm_s_pytorch.py}, {@code create_emb}/{@code create_mlp}):
 *
 * <ul>
 *   <li>embedding table with {@code n} rows: every weight ~ U(-sqrt(1/n), sqrt(1/n));</li>
 *   <li>MLP layer {@code in -> out}: weight [out, in] ~ N(0, sqrt(2 / (in + out))) (Glorot-normal),
 *       bias [out] ~ N(0, sqrt(1 / out));</li>
 *   <li>optimizer state starts at the optimizer's initial accumulator (0 by default), Adam moments at 0.</li>
 * </ul>
 *
 * <p>The random numbers, exactly: a SplitMix64 stream (Steele, Lea, Flood, "Fast splittable
 * pseudorandom number generators", OOPSLA 2014) whose start state is
 * {@code key(seed, EMBEDDING, table, row)} or {@code key(seed, DENSE, layer, 0)} with
 * {@code key(a, b, c, d) = mix(mix(mix(mix(a) + b) + c * G) + d * G)}, G = 0x9E3779B97F4A7C15; each
 * draw is {@code state += G; mix(state)}, a uniform double is its top 53 bits times 2^-53, a
 * uniform weight is {@code (float) (lo + (hi - lo) * u)}, and a normal weight is Box-Muller's cosine
 * branch {@code (float) (sigma * sqrt(-2 ln(1 - u1)) * cos(2 pi u2))} in {@link StrictMath} (one
 * pair of draws per value). A row's {@code dim} weights are drawn in column order; a layer draws its
 * weight row-major, then its bias.
 */
public final class Initializer {
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;
    private static final long EMBEDDING = 0x454D4244L; // "EMBD"
    private static final long DENSE = 0x44454E53L;     // "DENS"

    private Initializer() {
    }

    /** Writes the initial weights of {@code table}'s row {@code row} (of {@code rows} rows) to {@code dst[off, off + dim)}. */
    public static void embeddingRow(long seed, int table, long rows, int row, float[] dst, int off, int dim) {
        long state = key(seed, EMBEDDING, table, row);
        double bound = Math.sqrt(1.0 / rows);
        for (int k = 0; k < dim; k++) {
            state += GOLDEN;
            double u = unit(mix(state));
            dst[off + k] = (float) (-bound + 2 * bound * u);
        }
    }

    /** Initialises every MLP weight and bias of {@code dense} (optimizer state is left as constructed). */
    public static void dense(long seed, DenseParameters dense) {
        float[] values = dense.values();
        for (int l = 0; l < dense.layers().size(); l++) {
            LayerShape s = dense.layers().get(l);
            long[] state = {key(seed, DENSE, l, 0)};
            double wSigma = Math.sqrt(2.0 / (s.in() + s.out()));
            for (int i = 0; i < s.in() * s.out(); i++) {
                values[s.weightOffset() + i] = (float) (wSigma * gaussian(state));
            }
            double bSigma = Math.sqrt(1.0 / s.out());
            for (int o = 0; o < s.out(); o++) {
                values[s.biasOffset() + o] = (float) (bSigma * gaussian(state));
            }
        }
    }

    /** Initialises a whole model's dense part. Convenience for {@code dense(config.seed(), dense)}. */
    public static void dense(ModelConfig config, DenseParameters dense) {
        dense(config.seed(), dense);
    }

    private static double gaussian(long[] state) {
        state[0] += GOLDEN;
        double u1 = unit(mix(state[0]));
        state[0] += GOLDEN;
        double u2 = unit(mix(state[0]));
        return StrictMath.sqrt(-2.0 * StrictMath.log(1.0 - u1)) * StrictMath.cos(2.0 * Math.PI * u2);
    }

    static long key(long a, long b, long c, long d) {
        return mix(mix(mix(mix(a) + b) + c * GOLDEN) + d * GOLDEN);
    }

    private static double unit(long bits) {
        return (bits >>> 11) * 0x1.0p-53;
    }

    /** SplitMix64's finaliser. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}
