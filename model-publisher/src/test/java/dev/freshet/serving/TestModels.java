package dev.freshet.serving;

import dev.freshet.config.ConfigSource;
import dev.freshet.features.Examples;
import dev.freshet.features.FeatureLayout;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.EventKind;
import dev.freshet.trainer.EmbeddingTable;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelDelta;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.TrainerBackend;
import dev.freshet.trainer.TrainingProgress;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

/** A small seeded model and click stream shared by the publisher and serving tests. */
public final class TestModels {
    public static final FeatureLayout LAYOUT = FeatureLayout.parse(
            "label:label,i1:count,i2:count,i3:numeric,c1:categorical:1000,c2:categorical:500,c3:categorical:2000,c4:categorical:300", 1);

    private TestModels() {
    }

    public static ModelConfig config() {
        return ModelConfig.from(LAYOUT, ConfigSource.of(Map.of(
                "model.embedding-dim", "8", "model.bottom-mlp", "16,8", "model.top-mlp", "32,16,1", "model.batch-size", "512",
                "model.embedding-learning-rate", "0.1", "model.dense-learning-rate", "0.05", "model.seed", "7")));
    }

    /** Click events with values that repeat often enough for the model to learn something. */
    public static List<ClickEvent> events(int n, long seed) {
        Random rnd = new Random(seed);
        List<ClickEvent> out = new ArrayList<>(n);
        long layoutId = LAYOUT.id();
        for (int i = 0; i < n; i++) {
            int a = rnd.nextInt(300);
            int b = rnd.nextInt(200);
            List<Double> dense = new ArrayList<>();
            dense.add((double) rnd.nextInt(50));
            dense.add(rnd.nextInt(10) == 0 ? null : (double) rnd.nextInt(1000));
            dense.add(rnd.nextGaussian());
            List<String> cat = new ArrayList<>();
            cat.add("a" + a);
            cat.add("b" + b);
            cat.add(rnd.nextInt(20) == 0 ? null : "c" + rnd.nextInt(5000));
            cat.add("d" + rnd.nextInt(40));
            int label = ((a % 7 == 0) || (b % 5 == 0 && dense.get(2) > 0)) ? 1 : (rnd.nextInt(10) == 0 ? 1 : 0);
            out.add(ClickEvent.newBuilder().setEventId("e" + seed + "-" + i).setEventTime(Instant.ofEpochMilli(1_700_000_000_000L + i))
                    .setKind(EventKind.LABELED).setLabel(label).setLayoutId(layoutId).setDense(dense).setCategorical(cat).build());
        }
        return out;
    }

    /** Trains {@code events} in batches of the config's size. */
    public static void train(TrainerBackend backend, List<ClickEvent> events) {
        EventEncoder enc = new EventEncoder(LAYOUT);
        int bs = backend.config().batchSize();
        Examples ex = new Examples(bs, backend.config().numDense(), backend.config().numTables());
        float[] p = new float[bs];
        for (int from = 0; from < events.size(); from += bs) {
            List<ClickEvent> part = events.subList(from, Math.min(events.size(), from + bs));
            String[] errors = enc.encode(part, ex);
            for (String e : errors) if (e != null) throw new AssertionError(e);
            backend.train(ex, p);
        }
    }

    /** The trainer's probabilities for {@code events}, in batches of the config's size. */
    public static float[] trainerPredict(TrainerBackend backend, List<ClickEvent> events) {
        EventEncoder enc = new EventEncoder(LAYOUT);
        int bs = backend.config().batchSize();
        Examples ex = new Examples(bs, backend.config().numDense(), backend.config().numTables());
        float[] out = new float[events.size()];
        float[] p = new float[bs];
        for (int from = 0; from < events.size(); from += bs) {
            List<ClickEvent> part = events.subList(from, Math.min(events.size(), from + bs));
            enc.encode(part, ex);
            backend.predict(ex, p);
            System.arraycopy(p, 0, out, from, part.size());
        }
        return out;
    }

    /** The rows touched since the last call plus all dense weights, as the online loop cuts a DELTA. */
    public static ModelDelta cutDelta(ModelState state, TrainingProgress progress) {
        int[][] touched = state.drainTouchedRows();
        int dim = state.config().embeddingDim();
        List<ModelDelta.TableRows> rows = new ArrayList<>();
        for (int t = 0; t < touched.length; t++) {
            if (touched[t] == null || touched[t].length == 0) continue;
            EmbeddingTable table = state.tables().get(t);
            float[] values = new float[touched[t].length * dim];
            for (int i = 0; i < touched[t].length; i++) table.readRow(touched[t][i], values, i * dim);
            rows.add(new ModelDelta.TableRows(t, touched[t], values));
        }
        return new ModelDelta(state.config(), rows, state.dense().values().clone(), progress);
    }

    public static TrainingProgress progress(long examples, double auc) {
        return new TrainingProgress(Map.of("features-0", examples), examples, Map.of("auc", auc, "logloss", 0.5), 1_700_000_000_000L + examples);
    }
}
