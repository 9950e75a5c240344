package dev.freshet.serving;

import dev.freshet.features.Examples;
import dev.freshet.features.FeatureLayout;
import dev.freshet.publisher.DeltaPayload;
import dev.freshet.publisher.ModelManifest;
import dev.freshet.publisher.ModelStore;
import dev.freshet.publisher.ModelStoreException;
import dev.freshet.publisher.OnnxExport;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.serving.internal.LoadTarget;
import dev.freshet.serving.internal.OnnxDenseModel;
import dev.freshet.serving.internal.PagedTable;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelDelta;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One model version as serving holds it, immutable: paged embedding tables (shared page by page with
 * the versions before and after it) and the dense part in DJL's ONNX Runtime engine. A request scores
 * its whole batch against one instance, so it sees one version, never a mix.
 *
 * <pre>
 * events --EventEncoder--> rows [B, T], dense [B, numDense]
 * rows --table lookup (one row per table: sum pooling of a bag of one)--> embeddings [B, T, D]
 * (embeddings, dense) --ONNX dense part--> probability [B]
 * </pre>
 *
 * The ONNX session is native memory: the subscriber holds one reference and each request another, and
 * the session is closed when the last one is released.
 */
public final class ServingModel {
    /** Probabilities of a batch, the version that scored them, and per event null or why it was refused (probability NaN). */
    public record Prediction(long version, float[] probabilities, String[] errors) {
    }

    private final String modelName;
    private final long version;
    private final long createdAt;
    private final Map<String, Double> metrics;
    private final ModelConfig config;
    private final EventEncoder encoder;
    private final PagedTable[] tables;
    private final float[] dense;
    private final OnnxDenseModel onnx;
    private final AtomicInteger refs = new AtomicInteger(1);

    private ServingModel(String modelName, long version, long createdAt, Map<String, Double> metrics, ModelConfig config,
                         EventEncoder encoder, PagedTable[] tables, float[] dense) {
        this.modelName = modelName;
        this.version = version;
        this.createdAt = createdAt;
        this.metrics = Map.copyOf(metrics);
        this.config = config;
        this.encoder = encoder;
        this.tables = tables;
        this.dense = dense;
        this.onnx = new OnnxDenseModel(OnnxExport.export(config, dense, modelName, version), modelName + "-v" + version,
                config.numTables(), config.embeddingDim(), config.numDense());
    }

    /** Loads a FULL version from the store, checking every file; {@code fallbackLayout} serves where the manifest names none. */
    public static ServingModel load(ModelStore store, ModelManifest m, FeatureLayout fallbackLayout) {
        return load(store, List.of(m), fallbackLayout);
    }

    /**
     * Loads a FULL version and the DELTAs after it ({@code chain}: the FULL first, each DELTA on the one
     * before) in one pass: the DELTAs' rows are written into the freshly loaded tables, which nobody else
     * holds yet, and one ONNX session is built, for the last version only.
     */
    public static ServingModel load(ModelStore store, List<ModelManifest> chain, FeatureLayout fallbackLayout) {
        ModelManifest full = chain.get(0);
        LoadTarget target = new LoadTarget(full.config());
        store.readFullInto(full, target);
        PagedTable[] tables = target.pagedTables();
        float[] dense = target.dense().values().clone();
        ModelManifest last = full;
        Map<String, Double> metrics = full.metrics();
        int dim = full.config().embeddingDim();
        for (ModelManifest m : chain.subList(1, chain.size())) {
            DeltaPayload delta = store.readDelta(m);
            if (delta.parent() != last.version()) {
                throw new ModelStoreException("delta " + delta.version() + " applies on " + delta.parent() + ", not on " + last.version());
            }
            for (ModelDelta.TableRows r : delta.delta().rows()) {
                for (int i = 0; i < r.rows().length; i++) tables[r.table()].writeRowInPlace(r.rows()[i], r.values(), i * dim);
            }
            dense = delta.delta().dense().clone();
            metrics = delta.delta().progress().metrics();
            last = m;
        }
        FeatureLayout layout = layoutOf(full, fallbackLayout);
        return new ServingModel(full.modelName(), last.version(), last.createdAt(), metrics, full.config(), new EventEncoder(layout),
                tables, dense);
    }

    /** This version with a DELTA applied: touched pages copied, every other page shared. */
    public ServingModel apply(DeltaPayload delta, long createdAt) {
        return apply(List.of(delta), createdAt);
    }

    /**
     * This version with a chain of DELTAs applied (each on the one before, the first on this version), as one
     * new version: the last DELTA's, dated {@code createdAt}. Each touched page is copied once however many of
     * the DELTAs touch it, and one ONNX session is built, for the last DELTA's dense weights; the versions in
     * between are never built.
     */
    public ServingModel apply(List<DeltaPayload> deltas, long createdAt) {
        if (deltas.isEmpty()) throw new IllegalArgumentException("no DELTA to apply on version " + version);
        long parent = version;
        List<List<int[]>> ids = new ArrayList<>();
        List<List<float[]>> values = new ArrayList<>();
        for (int t = 0; t < tables.length; t++) {
            ids.add(new ArrayList<>());
            values.add(new ArrayList<>());
        }
        for (DeltaPayload delta : deltas) {
            if (delta.parent() != parent) {
                throw new IllegalArgumentException("delta " + delta.version() + " applies on " + delta.parent() + ", not on " + parent);
            }
            for (ModelDelta.TableRows r : delta.delta().rows()) {
                ids.get(r.table()).add(r.rows());
                values.get(r.table()).add(r.values());
            }
            parent = delta.version();
        }
        PagedTable[] next = tables.clone();
        for (int t = 0; t < tables.length; t++) {
            if (!ids.get(t).isEmpty()) next[t] = tables[t].withRows(ids.get(t), values.get(t));
        }
        DeltaPayload last = deltas.get(deltas.size() - 1);
        return new ServingModel(modelName, last.version(), createdAt, last.delta().progress().metrics(), config, encoder, next,
                last.delta().dense().clone());
    }

    static FeatureLayout layoutOf(ModelManifest m, FeatureLayout fallback) {
        FeatureLayout layout;
        if (m.layout() != null) {
            FeatureLayout parsed = FeatureLayout.parse(m.layout().spec(), 1);
            layout = new FeatureLayout(m.layout().name(), parsed.columns(), m.layout().hashSeed(), m.layout().denseClip());
            if (layout.id() != m.layout().id()) {
                throw new ModelStoreException("version " + m.version() + " names feature layout id " + m.layout().id()
                        + " but its spec gives id " + layout.id() + ": corrupt manifest");
            }
        } else {
            layout = Objects.requireNonNull(fallback, "the manifest names no feature layout and none was configured");
        }
        ModelConfig c = m.config();
        if (layout.numCategorical() != c.numTables() || layout.numDense() != c.numDense()) {
            throw new ModelStoreException("feature layout " + layout.name() + " has " + layout.numCategorical() + " categorical and "
                    + layout.numDense() + " dense columns; model version " + m.version() + " has " + c.numTables() + " tables and "
                    + c.numDense() + " dense features. Fix: serve with the features.columns the model was trained with");
        }
        long[] rows = layout.tableRows();
        for (int t = 0; t < rows.length; t++) {
            if (rows[t] != c.tables().get(t).rows()) {
                throw new ModelStoreException("feature layout column " + layout.categorical().get(t).name() + " hashes into " + rows[t]
                        + " rows; the model's table has " + c.tables().get(t).rows());
            }
        }
        return layout;
    }

    public Prediction predict(List<ClickEvent> events) {
        Objects.requireNonNull(events, "events");
        int n = events.size();
        Examples ex = new Examples(n, config.numDense(), config.numTables());
        String[] errors = encoder.encode(events, ex);
        float[] probabilities = predict(ex);
        for (int i = 0; i < n; i++) if (errors[i] != null) probabilities[i] = Float.NaN;
        return new Prediction(version, probabilities, errors);
    }

    /** Scores already-encoded examples. */
    public float[] predict(Examples ex) {
        int n = ex.count;
        if (n == 0) return new float[0];
        int t = config.numTables();
        int d = config.embeddingDim();
        float[] emb = new float[n * t * d];
        for (int b = 0; b < n; b++) {
            for (int k = 0; k < t; k++) {
                tables[k].readRow(ex.sparse[b * t + k], emb, (b * t + k) * d);
            }
        }
        return onnx.predict(new OnnxDenseModel.Batch(emb, ex.dense, n));
    }

    /** Reads one embedding row (tests and diagnostics). */
    public void readRow(int table, int row, float[] dst) {
        tables[table].readRow(row, dst, 0);
    }

    public float[] denseWeights() {
        return dense.clone();
    }

    public String modelName() {
        return modelName;
    }

    public long version() {
        return version;
    }

    public long createdAt() {
        return createdAt;
    }

    public Map<String, Double> metrics() {
        return metrics;
    }

    public ModelConfig config() {
        return config;
    }

    public FeatureLayout layout() {
        return encoder.layout();
    }

    /** Takes a reference for one request; false if the version was retired and released meanwhile. */
    boolean acquire() {
        while (true) {
            int c = refs.get();
            if (c <= 0) return false;
            if (refs.compareAndSet(c, c + 1)) return true;
        }
    }

    /** Drops a reference; the last one closes the ONNX session. */
    void release() {
        if (refs.decrementAndGet() == 0) onnx.close();
    }
}
