package dev.freshet.ingest;

import dev.freshet.features.FeatureLayout;
import dev.freshet.ingest.internal.BinnedAuc;
import dev.freshet.ingest.internal.ZipfSampler;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.EventKind;

import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * A seeded, deterministic click stream whose labels come from a hidden ground-truth model, so that what
 * a trainer learns can be measured against the best any model could do ({@link #bestAuc()}).
 *
 * <p>For each categorical column, IDs are drawn by Zipf popularity over {@code idsPerTable} ranks (a
 * few hot IDs, a long tail). The ground truth is a logistic model over per-ID random effects and dense
 * weights, the form of a GLMM and of the wide part of production CTR models:
 * <pre>
 * logit p = logit(baseCtr) + sum_t sigma_t * g(t, id_t) + sum_i w_i * (f_i - c_i)
 * </pre>
 * where g is a standard normal drawn from a hash of (seed, table, id, phase), sigma_t and w_i are
 * seeded draws scaled so the summed effects have standard deviations {@code effectScale} and
 * {@code denseScale}, and f_i is the dense value as {@code FeatureTransform} sees it (log(1+x) for
 * counts). Per-ID effects are computed from hashes, not stored, so any vocabulary size costs no memory.
 *
 * <p>With {@code shiftAfter > 0} the stream changes at that event: the same popularity ranks map to new
 * IDs (new hot IDs), per-ID effects are redrawn and dense weights change, so a model trained on the
 * first half is stale on the second.
 *
 * <p>Not thread-safe.
 */
public final class SyntheticClicks {
    private static final long[] PHASE_SALT = {0x1234_5678_9ABC_DEF1L, 0x0FED_CBA9_8765_4321L};
    private static final double MISSING_DENSE = 0.05;
    private static final double COUNT_LOG_MEAN = 1.5;
    private static final double COUNT_LOG_SD = 1.2;

    private final SyntheticConfig config;
    private final FeatureLayout layout;
    private final long layoutId;
    private final EventTimeSource times;
    private final SplittableRandom random;
    private final ZipfSampler zipf;
    private final boolean[] denseIsCount;
    private final double[] denseCenter;
    private final double[][] denseWeights;
    private final double[] tableScale;
    private final double bias;
    private final BinnedAuc[] phaseAuc = {new BinnedAuc(), new BinnedAuc()};
    private final BinnedAuc allAuc = new BinnedAuc();
    /** Ordinal of the first event this instance generates (0 unless it continues an earlier stream). */
    private final long firstOrdinal;
    private long count;
    private long positives;
    private double lastProbability = Double.NaN;

    public SyntheticClicks(SyntheticConfig config, FeatureLayout layout, EventTimeSource times) {
        this(config, layout, times, 0);
    }

    /**
     * Continues a stream whose first {@code firstOrdinal} events were produced earlier (a demo resumed from
     * its work directory): the same hidden model, event ids and ordinals from {@code firstOrdinal} on, and
     * draws of its own. Starting at 0 again would replay the earlier events, labels included, to a model
     * already trained on them, and its progressive AUC would measure memory (it read 1.0000).
     */
    public SyntheticClicks(SyntheticConfig config, FeatureLayout layout, EventTimeSource times, long firstOrdinal) {
        if (firstOrdinal < 0) throw new IllegalArgumentException("first ordinal " + firstOrdinal + " is negative");
        this.firstOrdinal = firstOrdinal;
        this.config = Objects.requireNonNull(config, "config");
        this.layout = Objects.requireNonNull(layout, "layout");
        this.times = Objects.requireNonNull(times, "times");
        this.layoutId = layout.id();
        this.random = new SplittableRandom(firstOrdinal == 0 ? config.seed() : mix(config.seed() ^ mix(firstOrdinal)));
        this.zipf = new ZipfSampler(config.idsPerTable(), config.zipfExponent());
        List<FeatureLayout.Column> dense = layout.dense();
        int numDense = dense.size();
        this.denseIsCount = new boolean[numDense];
        this.denseCenter = new double[numDense];
        for (int i = 0; i < numDense; i++) {
            denseIsCount[i] = dense.get(i).kind() == FeatureLayout.Kind.COUNT;
            denseCenter[i] = denseIsCount[i] ? COUNT_LOG_MEAN : 0.0;
        }
        // The model's own parameters come from a separate stream so that they do not depend on how many events are drawn.
        SplittableRandom params = new SplittableRandom(mix(config.seed() ^ 0x5EED_0F_7A07L));
        this.denseWeights = new double[2][];
        for (int phase = 0; phase < 2; phase++) {
            denseWeights[phase] = scaledGaussians(params, numDense, config.denseScale() / COUNT_LOG_SD);
        }
        int numTables = layout.numCategorical();
        this.tableScale = new double[numTables];
        double sumSquares = 0;
        for (int t = 0; t < numTables; t++) {
            tableScale[t] = 0.2 + 1.3 * params.nextDouble();
            sumSquares += tableScale[t] * tableScale[t];
        }
        for (int t = 0; t < numTables; t++) {
            tableScale[t] *= config.effectScale() / Math.sqrt(sumSquares);
        }
        this.bias = Math.log(config.baseCtr() / (1 - config.baseCtr()));
    }

    /** The next event, labelled by the ground truth; its true click probability is then {@link #lastProbability()}. */
    public ClickEvent next() {
        long ordinal = firstOrdinal + count;
        int phase = phaseOf(ordinal);
        Double[] dense = new Double[denseIsCount.length];
        for (int i = 0; i < dense.length; i++) {
            if (random.nextDouble() < MISSING_DENSE) {
                continue;
            }
            double z = gaussian(random);
            dense[i] = denseIsCount[i] ? (double) Math.max(0, Math.round(Math.exp(COUNT_LOG_MEAN + COUNT_LOG_SD * z) - 1)) : z;
        }
        String[] categorical = new String[tableScale.length];
        for (int t = 0; t < categorical.length; t++) {
            categorical[t] = idOf(t, zipf.sample(random), phase);
        }
        ClickEvent event = new ClickEvent();
        event.setEventId("synthetic-" + config.seed() + "-" + ordinal);
        event.setEventTime(Instant.ofEpochMilli(times.eventTime(ordinal)));
        event.setKind(EventKind.LABELED);
        event.setImpressionId(null);
        event.setLayoutId(layoutId);
        event.setDense(Arrays.asList(dense));
        event.setCategorical(Arrays.asList(categorical));
        double p = probability(event, phase);
        boolean clicked = random.nextDouble() < p;
        event.setLabel(clicked ? 1 : 0);
        lastProbability = p;
        count++;
        if (clicked) positives++;
        phaseAuc[phase].add(p, clicked);
        allAuc.add(p, clicked);
        return event;
    }

    /** 0 before the shift, 1 from event {@code shiftAfter} on. */
    public int phaseOf(long ordinal) {
        return config.shiftAfter() > 0 && ordinal >= config.shiftAfter() ? 1 : 0;
    }

    /**
     * The ground-truth click probability of {@code event}'s features under {@code phase}'s model; works for
     * any event of this layout, so a test can score a model against the truth on its own events.
     */
    public double probability(ClickEvent event, int phase) {
        double logit = bias;
        List<Double> dense = event.getDense();
        double[] w = denseWeights[phase];
        for (int i = 0; i < w.length; i++) {
            Double raw = dense.get(i);
            if (raw != null) {
                double f = denseIsCount[i] ? Math.log1p(Math.max(raw, 0)) : raw;
                logit += w[i] * (f - denseCenter[i]);
            }
        }
        List<String> categorical = event.getCategorical();
        for (int t = 0; t < tableScale.length; t++) {
            String id = categorical.get(t);
            if (id != null) {
                logit += tableScale[t] * effect(t, id, phase);
            }
        }
        return 1.0 / (1.0 + Math.exp(-logit));
    }

    /**
     * The ID at popularity rank {@code rank} (1 = hottest) of table {@code table} in {@code phase}: 8 hex
     * digits like Criteo's hashed values, distinct for distinct ranks (a bijective 32-bit mix).
     */
    public String idOf(int table, long rank, int phase) {
        int salt = (int) mix(PHASE_SALT[phase] * 31 + table * 0x9E3779B97F4A7C15L + config.seed());
        int v = fmix32((int) (rank - 1) ^ salt);
        return hex8(v);
    }

    /** True probability of the last event from {@link #next()}. */
    public double lastProbability() {
        return lastProbability;
    }

    /** Events generated so far by this instance. */
    public long count() {
        return count;
    }

    /** Fraction of generated events labelled 1. */
    public double clickRate() {
        return count == 0 ? Double.NaN : (double) positives / count;
    }

    /** AUC of the true probabilities on the events generated so far: the best any model can reach on them. */
    public double bestAuc() {
        return allAuc.value();
    }

    /** {@link #bestAuc()} restricted to events of one phase (NaN while it has no events of both labels). */
    public double bestAuc(int phase) {
        return phaseAuc[phase].value();
    }

    public SyntheticConfig config() {
        return config;
    }

    public FeatureLayout layout() {
        return layout;
    }

    private double effect(int table, String id, int phase) {
        long h = 0xcbf29ce484222325L;
        for (int i = 0; i < id.length(); i++) {
            h ^= id.charAt(i);
            h *= 0x100000001b3L;
        }
        long key = mix(h ^ mix(config.seed() + 0x632BE59BD9B4E019L * (table + 1) + PHASE_SALT[phase]));
        // Box-Muller from two independent 53-bit uniforms derived from the key.
        double u1 = ((mix(key) >>> 11) + 1) * 0x1.0p-53;
        double u2 = (mix(key ^ 0x9E3779B97F4A7C15L) >>> 11) * 0x1.0p-53;
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }

    private static double[] scaledGaussians(SplittableRandom random, int n, double totalSd) {
        double[] w = new double[n];
        double sumSquares = 0;
        for (int i = 0; i < n; i++) {
            w[i] = gaussian(random);
            sumSquares += w[i] * w[i];
        }
        if (sumSquares > 0) {
            for (int i = 0; i < n; i++) {
                w[i] *= totalSd / Math.sqrt(sumSquares);
            }
        }
        return w;
    }

    private static double gaussian(SplittableRandom random) {
        double u1 = 1.0 - random.nextDouble();
        double u2 = random.nextDouble();
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }

    /** SplitMix64's finaliser. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** MurmurHash3's 32-bit finaliser: a bijection on int. */
    private static int fmix32(int h) {
        h ^= h >>> 16;
        h *= 0x85ebca6b;
        h ^= h >>> 13;
        h *= 0xc2b2ae35;
        h ^= h >>> 16;
        return h;
    }

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private static String hex8(int v) {
        char[] c = new char[8];
        for (int i = 7; i >= 0; i--) {
            c[i] = HEX[v & 0xF];
            v >>>= 4;
        }
        return new String(c);
    }
}
