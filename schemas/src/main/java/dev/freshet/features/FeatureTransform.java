package dev.freshet.features;

import java.util.Objects;

/**
 * Raw feature values to model inputs, shared by the feature job (training) and the serving subscriber
 * (prediction) so that both see the same numbers.
 *
 * <p>Categorical: {@code row = floorMod(mix(fnv1a64(value) ^ mix(seed + table)), rows)}, where fnv1a64
 * runs over the value's UTF-16 code units and mix is the SplitMix64 finaliser. A missing value hashes
 * as its own token. This mapping is part of the data format: it must never change for a given
 * layout id, and {@code FeatureTransformTest} pins exact rows.
 *
 * <p>Dense: COUNT columns become {@code log(1 + max(x, 0))} (Criteo's negative counts are clamped as in
 * the DLRM reference preprocessing), NUMERIC columns stay as they are; both are then clipped to
 * [-clip, clip]. A missing value becomes 0. Non-finite input is the caller's to reject.
 *
 * <p>Thread-safe and allocation-free.
 */
public final class FeatureTransform {
    private static final long MISSING_TOKEN = 0x6D697373696E6721L;

    private final FeatureLayout layout;
    private final long[] tableSalts;
    private final long[] tableRows;
    private final boolean[] denseIsCount;
    private final double clip;

    public FeatureTransform(FeatureLayout layout) {
        this.layout = Objects.requireNonNull(layout, "layout");
        this.tableRows = layout.tableRows();
        this.tableSalts = new long[tableRows.length];
        for (int t = 0; t < tableSalts.length; t++) {
            tableSalts[t] = mix(layout.hashSeed() + 0x9E3779B97F4A7C15L * (t + 1));
        }
        var dense = layout.dense();
        this.denseIsCount = new boolean[dense.size()];
        for (int i = 0; i < denseIsCount.length; i++) {
            denseIsCount[i] = dense.get(i).kind() == FeatureLayout.Kind.COUNT;
        }
        this.clip = layout.denseClip();
    }

    public FeatureLayout layout() {
        return layout;
    }

    /** The embedding row of {@code value} (null = missing) in categorical table {@code table}. */
    public int row(int table, CharSequence value) {
        long h;
        if (value == null) {
            h = MISSING_TOKEN;
        } else {
            h = 0xcbf29ce484222325L;
            for (int i = 0, n = value.length(); i < n; i++) {
                h ^= value.charAt(i);
                h *= 0x100000001b3L;
            }
        }
        return (int) Math.floorMod(mix(h ^ tableSalts[table]), tableRows[table]);
    }

    /** The model input for dense feature {@code index} given its raw value; NaN stands for missing. */
    public float dense(int index, double raw) {
        if (Double.isNaN(raw)) {
            return 0f;
        }
        double v = denseIsCount[index] ? Math.log1p(Math.max(raw, 0.0)) : raw;
        return (float) Math.max(-clip, Math.min(clip, v));
    }

    /** SplitMix64's finaliser (Steele, Lea, Flood 2014): a cheap bijective 64-bit mixer. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}
