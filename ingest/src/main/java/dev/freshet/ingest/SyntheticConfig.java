package dev.freshet.ingest;

import dev.freshet.config.ConfigException;
import dev.freshet.config.ConfigSource;
import dev.freshet.config.Setting;

import java.util.List;

/**
 * The synthetic click stream: its size, skew and hidden ground truth.
 *
 * @param seed         every draw follows from it
 * @param events       events the {@code ingest synthetic} command produces
 * @param idsPerTable  distinct IDs per categorical column (Zipf support size)
 * @param zipfExponent skew of ID popularity; 1.0 to 1.2 is typical of click logs
 * @param effectScale  standard deviation of the summed per-ID logit effects; larger makes the labels more predictable
 * @param denseScale   standard deviation of the summed dense-feature logit contribution
 * @param baseCtr      click rate of an event with zero effects (sets the intercept)
 * @param shiftAfter   after this many events, hot IDs and the ground truth change; 0 never
 */
public record SyntheticConfig(long seed, long events, long idsPerTable, double zipfExponent, double effectScale,
                              double denseScale, double baseCtr, long shiftAfter) {

    public static final Setting<Long> SEED = Setting.ofLong("synthetic.seed", 42, Long.MIN_VALUE, Long.MAX_VALUE,
            "Seed of the synthetic click stream; the same seed gives the same events.");
    public static final Setting<Long> EVENTS = Setting.ofLong("synthetic.events", 1_000_000, 1, Long.MAX_VALUE,
            "Events the synthetic generator produces.");
    public static final Setting<Long> IDS_PER_TABLE = Setting.ofLong("synthetic.ids-per-table", 100_000, 1, 1L << 32,
            "Distinct IDs per categorical column.");
    public static final Setting<Double> ZIPF_EXPONENT = Setting.ofDouble("synthetic.zipf-exponent", 1.1, 0.01, 10,
            "Zipf exponent of ID popularity (P(rank k) ~ 1/k^s).");
    public static final Setting<Double> EFFECT_SCALE = Setting.ofDouble("synthetic.effect-scale", 1.5, 0, 20,
            "Standard deviation of the ground truth's summed per-ID logit effects.");
    public static final Setting<Double> DENSE_SCALE = Setting.ofDouble("synthetic.dense-scale", 0.7, 0, 20,
            "Standard deviation of the ground truth's summed dense-feature logit contribution.");
    public static final Setting<Double> BASE_CTR = Setting.ofDouble("synthetic.base-ctr", 0.2, 1e-6, 1 - 1e-6,
            "Click rate of an event whose effects are all zero.");
    public static final Setting<Long> SHIFT_AFTER = Setting.ofLong("synthetic.shift-after", 0, 0, Long.MAX_VALUE,
            "After this many events the hot IDs and the ground truth change (distribution shift); 0 never.");

    public static final List<Setting<?>> SETTINGS = List.of(SEED, EVENTS, IDS_PER_TABLE, ZIPF_EXPONENT, EFFECT_SCALE, DENSE_SCALE,
            BASE_CTR, SHIFT_AFTER);

    public SyntheticConfig {
        if (events < 1) throw new ConfigException("synthetic.events = " + events + " must be at least 1.");
        if (idsPerTable < 1 || idsPerTable > (1L << 32)) {
            throw new ConfigException("synthetic.ids-per-table = " + idsPerTable + " out of range 1.." + (1L << 32) + ".");
        }
        if (!(zipfExponent > 0) || Double.isInfinite(zipfExponent)) {
            throw new ConfigException("synthetic.zipf-exponent = " + zipfExponent + " must be a positive number, e.g. 1.1.");
        }
        if (!(effectScale >= 0) || !(denseScale >= 0) || Double.isInfinite(effectScale) || Double.isInfinite(denseScale)) {
            throw new ConfigException("synthetic.effect-scale = " + effectScale + " and synthetic.dense-scale = " + denseScale
                    + " must be finite and >= 0.");
        }
        if (!(baseCtr > 0 && baseCtr < 1)) {
            throw new ConfigException("synthetic.base-ctr = " + baseCtr + " must lie strictly between 0 and 1, e.g. 0.2.");
        }
        if (shiftAfter < 0) throw new ConfigException("synthetic.shift-after = " + shiftAfter + " must be >= 0 (0 = no shift).");
    }

    public static SyntheticConfig from(ConfigSource source) {
        return new SyntheticConfig(source.get(SEED), source.get(EVENTS), source.get(IDS_PER_TABLE), source.get(ZIPF_EXPONENT),
                source.get(EFFECT_SCALE), source.get(DENSE_SCALE), source.get(BASE_CTR), source.get(SHIFT_AFTER));
    }

    public static SyntheticConfig defaults() {
        return from(ConfigSource.empty());
    }

    public SyntheticConfig withSeed(long newSeed) {
        return new SyntheticConfig(newSeed, events, idsPerTable, zipfExponent, effectScale, denseScale, baseCtr, shiftAfter);
    }

    public SyntheticConfig withEvents(long newEvents) {
        return new SyntheticConfig(seed, newEvents, idsPerTable, zipfExponent, effectScale, denseScale, baseCtr, shiftAfter);
    }

    public SyntheticConfig withIdsPerTable(long ids) {
        return new SyntheticConfig(seed, events, ids, zipfExponent, effectScale, denseScale, baseCtr, shiftAfter);
    }

    public SyntheticConfig withShiftAfter(long events) {
        return new SyntheticConfig(seed, this.events, idsPerTable, zipfExponent, effectScale, denseScale, baseCtr, events);
    }
}
