package dev.freshet.publisher;

import dev.freshet.features.FeatureLayout;
import dev.freshet.publisher.internal.Sha256;
import dev.freshet.publisher.internal.UpdateRecords;
import dev.freshet.schemas.ModelUpdate;
import dev.freshet.schemas.Provenance;
import dev.freshet.schemas.UpdateKind;
import dev.freshet.schemas.serde.KafkaAvroSerde;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.host.HostModelState;
import dev.freshet.trainer.ModelDelta;
import dev.freshet.trainer.ModelSink;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.TrainingProgress;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Turns what the trainer hands over into model versions: writes each to the {@link ModelStore} and
 * announces it on {@code model-updates}, keyed by model name.
 *
 * <ul>
 *   <li>{@link #delta}: a DELTA (rows touched since the parent plus every dense weight) inline in the
 *       records, cut into chunks under the topic's {@code max.message.bytes}, all chunks in one Kafka
 *       transaction so that a read_committed subscriber sees all of them or none.</li>
 *   <li>{@link #full}: a FULL snapshot in the store, announced by one record naming it.</li>
 *   <li>The {@link QualityGate} runs first; a refused version is logged, counted and not published, and
 *       its rows are kept and merged into the next DELTA, so that no touched row is ever lost.</li>
 * </ul>
 *
 * A DELTA needs a parent this publisher published: until its first FULL, deltas are merged and held and
 * {@link #fullRequested()} says so. The online loop asks {@link #fullRequested()} between steps (true after
 * {@code publisher.full-interval}, after {@link #requestFull()}, and before the first FULL) and then calls
 * {@link #full}. The store is the source of truth: a version whose announcement fails stays in the store
 * and subscribers pick it up when they resync. Called from the training thread.
 */
public final class ModelPublisher implements ModelSink {
    private static final Logger LOG = LoggerFactory.getLogger(ModelPublisher.class);

    private final PublisherConfig config;
    private final ModelStore store;
    private final Producer<String, ModelUpdate> producer;
    private final QualityGate gate;
    private final Clock clock;
    private final ModelManifest.LayoutRef layout;
    private final int chunkBytes;
    private final PublisherMetrics metrics = new PublisherMetrics();
    private final String codeVersion = codeVersion();

    /** The newest version this publisher published (-1: none yet), its AUC, and when the newest FULL was made. */
    private long lastVersion = -1;
    private double lastAuc = Double.NaN;
    private long lastFullAt = Long.MIN_VALUE;
    private volatile boolean fullRequested;
    /** Rows of refused or held deltas, per table, merged into the next published one. */
    private ModelDelta.TableRows[] pending;
    private boolean closed;

    public ModelPublisher(PublisherConfig config, FeatureLayout layout, Clock clock) {
        this(config, layout, clock, chunkBytes(config));
    }

    private ModelPublisher(PublisherConfig config, FeatureLayout layout, Clock clock, int chunkBytes) {
        this(config, layout, clock, new KafkaProducer<>(producerProps(config, chunkBytes), new StringSerializer(),
                KafkaAvroSerde.of(ModelUpdate.class)), chunkBytes);
    }

    ModelPublisher(PublisherConfig config, FeatureLayout layout, Clock clock, Producer<String, ModelUpdate> producer, int chunkBytes) {
        this.config = Objects.requireNonNull(config, "config");
        this.clock = Objects.requireNonNull(clock, "clock");
        this.producer = Objects.requireNonNull(producer, "producer");
        this.chunkBytes = chunkBytes;
        this.gate = new QualityGate(config.maxAucDrop());
        this.store = ModelStore.open(config.storeDir(), config.modelName());
        this.layout = layout == null ? null : layoutRef(layout);
        OptionalLong latest = store.latestVersion();
        if (latest.isPresent()) {
            // The gate compares with what serving runs now, even if another process published it.
            lastAuc = store.manifest(latest.getAsLong()).auc();
        }
        producer.initTransactions();
        LOG.info("model publisher for {} ready: store {}, topic {}, DELTA chunks of at most {} bytes", config.modelName(),
                store.root(), config.topics().modelUpdates(), chunkBytes);
    }

    public static ModelManifest.LayoutRef layoutRef(FeatureLayout layout) {
        return new ModelManifest.LayoutRef(layout.name(), layout.spec(), layout.hashSeed(), layout.denseClip(), layout.id());
    }

    public PublisherMetrics metrics() {
        return metrics;
    }

    public ModelStore store() {
        return store;
    }

    public int chunkBytes() {
        return chunkBytes;
    }

    /** Asks for a FULL at the trainer's next opportunity (on demand, e.g. from an admin endpoint). */
    public void requestFull() {
        fullRequested = true;
    }

    /** Whether the online loop should hand over a FULL now. */
    public boolean fullRequested() {
        return fullRequested || lastVersion < 0
                || clock.millis() - lastFullAt >= config.fullInterval().toMillis();
    }

    @Override
    public synchronized void delta(ModelDelta delta) {
        Objects.requireNonNull(delta, "delta");
        checkOpen();
        syncWithStore();
        ModelDelta merged = mergePending(delta);
        long version = nextVersion();
        Optional<QualityGate.Verdict> verdict = gate.checkDelta(version, merged)
                .or(() -> gate.checkAuc(version, auc(merged.progress()), lastAuc));
        if (verdict.isPresent()) {
            refuse(verdict.get());
            pending = toPending(merged);
            return;
        }
        if (lastVersion < 0) {
            // No parent to apply on: hold the rows until the first FULL replaces them anyway.
            pending = toPending(merged);
            fullRequested = true;
            return;
        }
        DeltaPayload payload = new DeltaPayload(version, lastVersion, merged);
        byte[] bytes = payload.encode();
        long now = clock.millis();
        ModelManifest written;
        try {
            written = store.writeDelta(header(payload.version(), lastVersion, now, merged.config(), merged.progress(), null), bytes, merged.dense());
        } catch (ModelStore.VersionTakenException e) {
            // A rollback took this number: our parent is no longer the newest line; go on from a FULL.
            LOG.warn("{}; a FULL from the trainer is needed before the next DELTA", e.getMessage());
            pending = toPending(merged);
            lastVersion = -1;
            fullRequested = true;
            return;
        }
        pending = null;
        List<ModelUpdate> chunks = UpdateRecords.deltaChunks(config.modelName(), version, lastVersion, now, bytes, chunkBytes,
                written.metrics(), provenance(written));
        announce(version, chunks);
        lastVersion = version;
        lastAuc = written.auc();
        metrics.deltasPublished.incrementAndGet();
        metrics.rowsPublished.addAndGet(merged.rowCount());
        metrics.bytesPublished.addAndGet(bytes.length);
        metrics.chunksPublished.addAndGet(chunks.size());
        metrics.lastVersion.set(version);
        retain();
    }

    @Override
    public synchronized void full(ModelState state, TrainingProgress progress) {
        Objects.requireNonNull(state, "state");
        Objects.requireNonNull(progress, "progress");
        checkOpen();
        syncWithStore();
        long gateVersion = nextVersion();
        Optional<QualityGate.Verdict> verdict = gate.checkState(gateVersion, state)
                .or(() -> gate.checkAuc(gateVersion, auc(progress), lastAuc));
        if (verdict.isPresent()) {
            refuse(verdict.get());
            return;
        }
        long now = clock.millis();
        ModelManifest written = null;
        for (int attempt = 0; written == null; attempt++) {
            long version = nextVersion();
            Long parent = store.latestVersion().isPresent() ? store.latestVersion().getAsLong() : null;
            try {
                written = store.writeFull(header(version, parent, now, state.config(), progress, null), state);
            } catch (ModelStore.VersionTakenException e) {
                // Another writer (a rollback) took the number between our look and our rename.
                if (attempt >= 10) throw e;
                LOG.warn("{}; taking the next number", e.getMessage());
            }
        }
        announceFull(written);
        pending = null;
        lastVersion = written.version();
        lastAuc = written.auc();
        lastFullAt = now;
        fullRequested = false;
        metrics.fullsPublished.incrementAndGet();
        metrics.lastVersion.set(written.version());
        retain();
    }

    /**
     * Republishes version {@code target} as the newest FULL (what {@code freshet model rollback --to V} does):
     * a FULL is copied byte for byte; a DELTA is rebuilt from its FULL and the DELTAs before it, verified,
     * and written as a FULL. The quality gate is not asked: a rollback is a deliberate choice. Deltas the
     * trainer cuts afterwards do not apply on the rollback and wait for its next FULL.
     */
    public synchronized ModelManifest rollbackTo(long target) {
        checkOpen();
        ModelManifest source = store.manifest(target);
        long now = clock.millis();
        ModelManifest written = null;
        for (int attempt = 0; written == null; attempt++) {
            long version = nextVersion();
            ModelManifest header = new ModelManifest(ModelManifest.FORMAT_VERSION, config.modelName(), version, version - 1,
                    UpdateKind.FULL, now, source.config(), source.layout(), source.inputOffsets(), source.trainedExamples(),
                    source.maxEventTime(), source.codeVersion(), source.metrics(), Map.of(), target);
            try {
                if (source.kind() == UpdateKind.FULL) {
                    written = store.copyFull(source, header);
                } else {
                    try (HostModelState state = materialize(source)) {
                        written = store.writeFull(header, state);
                    }
                }
            } catch (ModelStore.VersionTakenException e) {
                if (attempt >= 10) throw e;
            }
        }
        announceFull(written);
        lastVersion = written.version();
        lastAuc = written.auc();
        lastFullAt = now;
        metrics.fullsPublished.incrementAndGet();
        metrics.lastVersion.set(written.version());
        LOG.info("rolled {} back to version {} as new FULL {}", config.modelName(), target, written.version());
        return written;
    }

    /** The complete model of a DELTA version: its chain's FULL with every DELTA up to it applied. */
    private HostModelState materialize(ModelManifest delta) {
        List<ModelManifest> chain = new ArrayList<>();
        ModelManifest m = delta;
        while (m.kind() == UpdateKind.DELTA) {
            chain.add(0, m);
            if (m.parent() == null) throw new ModelStoreException("DELTA " + m.version() + " names no parent");
            m = store.manifest(m.parent());
        }
        HostModelState state = HostModelState.allocate(m.config());
        try {
            store.readFullInto(m, state);
            for (ModelManifest d : chain) {
                DeltaPayload p = store.readDelta(d);
                int dim = m.config().embeddingDim();
                for (ModelDelta.TableRows r : p.delta().rows()) {
                    var table = state.tables().get(r.table());
                    for (int i = 0; i < r.rows().length; i++) table.writeRow(r.rows()[i], r.values(), i * dim);
                }
                System.arraycopy(p.delta().dense(), 0, state.dense().values(), 0, p.delta().dense().length);
            }
            return state;
        } catch (RuntimeException e) {
            state.close();
            throw e;
        }
    }

    /** Announces a FULL version already in the store (used by rollback and by {@link #full}). */
    synchronized void announceFull(ModelManifest written) {
        byte[] manifest = store.manifestBytes(written.version());
        announce(written.version(), List.of(UpdateRecords.full(config.modelName(), written.version(), written.parent(), written.createdAt(),
                store.ref(written.version()), Sha256.hex(manifest), written.metrics(), provenance(written))));
    }

    private void announce(long version, List<ModelUpdate> records) {
        try {
            producer.beginTransaction();
            List<Future<?>> sent = new ArrayList<>(records.size());
            for (ModelUpdate r : records) {
                sent.add(producer.send(new ProducerRecord<>(config.topics().modelUpdates(), config.modelName(), r)));
            }
            producer.commitTransaction();
            for (Future<?> f : sent) f.get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            metrics.publishFailures.incrementAndGet();
            LOG.error("announcing version {} of {} on {} failed ({}); it stays in the store {} and subscribers find it when they resync",
                    version, config.modelName(), config.topics().modelUpdates(), e.toString(), store.root());
            try {
                producer.abortTransaction();
            } catch (RuntimeException ignored) {
                // A fenced or failed producer cannot abort; the transaction times out on the broker.
            }
        }
    }

    /**
     * Notices a version another writer (a rollback) put in the store after ours: our DELTAs no longer apply
     * to what serving runs, so they wait for a FULL, and the gate now compares with that version's AUC, so
     * that a model worse than the one rolled back to is not published over it.
     */
    private void syncWithStore() {
        OptionalLong latest = store.latestVersion();
        if (latest.isEmpty() || latest.getAsLong() <= lastVersion) return;
        ModelManifest m = store.manifest(latest.getAsLong());
        lastAuc = m.auc();
        if (lastVersion >= 0) {
            LOG.warn("model {} has version {} in the store, published by another writer after our {}{}; the next DELTA waits for a FULL",
                    config.modelName(), m.version(), lastVersion, m.rollbackOf() == null ? "" : " (a rollback to " + m.rollbackOf() + ")");
            lastVersion = -1;
        }
    }

    private void refuse(QualityGate.Verdict v) {
        metrics.reject(v.reason());
        LOG.error("quality gate refused a {} of {}: {}", v.reason(), config.modelName(), v.message());
    }

    private long nextVersion() {
        long fromStore = store.latestVersion().orElse(0);
        return Math.max(fromStore, lastVersion) + 1;
    }

    private ModelManifest header(long version, Long parent, long now, ModelConfig modelConfig, TrainingProgress progress, Long rollbackOf) {
        Map<String, Double> m = new HashMap<>(progress.metrics());
        return new ModelManifest(ModelManifest.FORMAT_VERSION, config.modelName(), version, parent, UpdateKind.DELTA, now, modelConfig,
                layout, progress.inputOffsets(), progress.trainedExamples(), progress.maxEventTime(), codeVersion, m, Map.of(), rollbackOf);
    }

    static Provenance provenance(ModelManifest m) {
        return Provenance.newBuilder()
                .setCodeVersion(m.codeVersion())
                .setConfigSha256(configSha256(m.config()))
                .setInputOffsets(m.inputOffsets())
                .setTrainedExamples(m.trainedExamples())
                .build();
    }

    static String configSha256(ModelConfig c) {
        return dev.freshet.trainer.checkpoint.ModelFiles.configSha256(c);
    }

    private static double auc(TrainingProgress p) {
        Double a = p.metrics().get("auc");
        return a == null ? Double.NaN : a;
    }

    private void retain() {
        try {
            List<Long> deleted = store.retain(config.keepVersions());
            if (!deleted.isEmpty()) LOG.debug("retention removed versions {} of {}", deleted, config.modelName());
        } catch (RuntimeException e) {
            LOG.warn("model store retention failed: {}", e.toString());
        }
    }

    // ---- merging held rows ----

    private ModelDelta mergePending(ModelDelta delta) {
        if (pending == null) return delta;
        ModelDelta.TableRows[] byTable = toPending(delta);
        List<ModelDelta.TableRows> out = new ArrayList<>();
        int dim = delta.config().embeddingDim();
        for (int t = 0; t < byTable.length; t++) {
            ModelDelta.TableRows merged = merge(pending[t], byTable[t], dim);
            if (merged != null) out.add(merged);
        }
        return new ModelDelta(delta.config(), out, delta.dense(), delta.progress());
    }

    private static ModelDelta.TableRows[] toPending(ModelDelta d) {
        ModelDelta.TableRows[] out = new ModelDelta.TableRows[d.config().numTables()];
        for (ModelDelta.TableRows r : d.rows()) {
            // ModelSink's contract: copy what we keep.
            out[r.table()] = new ModelDelta.TableRows(r.table(), r.rows().clone(), r.values().clone());
        }
        return out;
    }

    /** Union of two ascending row sets; where both hold a row, {@code newer}'s values win. */
    static ModelDelta.TableRows merge(ModelDelta.TableRows older, ModelDelta.TableRows newer, int dim) {
        if (older == null) return newer;
        if (newer == null) return older;
        int[] a = older.rows();
        int[] b = newer.rows();
        int[] rows = new int[a.length + b.length];
        float[] values = new float[rows.length * dim];
        int i = 0, j = 0, n = 0;
        while (i < a.length || j < b.length) {
            if (j >= b.length || (i < a.length && a[i] < b[j])) {
                rows[n] = a[i];
                System.arraycopy(older.values(), i++ * dim, values, n++ * dim, dim);
            } else {
                if (i < a.length && a[i] == b[j]) i++;
                rows[n] = b[j];
                System.arraycopy(newer.values(), j++ * dim, values, n++ * dim, dim);
            }
        }
        return new ModelDelta.TableRows(newer.table(), java.util.Arrays.copyOf(rows, n), java.util.Arrays.copyOf(values, n * dim));
    }

    // ---- Kafka ----

    /** DELTA chunk size: the configured bound, lowered to fit the topic's max.message.bytes. */
    static int chunkBytes(PublisherConfig config) {
        int chunk = config.maxChunkBytes();
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", config.bootstrapServers()))) {
            ConfigResource topic = new ConfigResource(ConfigResource.Type.TOPIC, config.topics().modelUpdates());
            Config c = admin.describeConfigs(List.of(topic)).all().get(30, TimeUnit.SECONDS).get(topic);
            var entry = c == null ? null : c.get(TopicConfig.MAX_MESSAGE_BYTES_CONFIG);
            if (entry != null && entry.value() != null) {
                int topicMax = Integer.parseInt(entry.value());
                int fit = topicMax - UpdateRecords.RECORD_OVERHEAD_BYTES;
                if (fit < 4096) {
                    throw new IllegalStateException("topic " + config.topics().modelUpdates() + " has max.message.bytes " + topicMax
                            + ", too small for model updates. Fix: raise it to at least 1048588");
                }
                if (fit < chunk) {
                    LOG.info("DELTA chunks lowered from {} to {} bytes to fit {}'s max.message.bytes {}", chunk, fit,
                            config.topics().modelUpdates(), topicMax);
                    chunk = fit;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while reading the config of topic " + config.topics().modelUpdates(), e);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("cannot read the config of topic " + config.topics().modelUpdates() + " from "
                    + config.bootstrapServers() + ": " + e.getMessage() + ". Fix: create the Freshet topics first (freshet topics create) "
                    + "and check kafka.bootstrap-servers", e);
        }
        return chunk;
    }

    static Map<String, Object> producerProps(PublisherConfig config, int chunkBytes) {
        Map<String, Object> p = new HashMap<>();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, config.transactionalId() + "-" + config.modelName());
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, chunkBytes + UpdateRecords.RECORD_OVERHEAD_BYTES);
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, chunkBytes + UpdateRecords.RECORD_OVERHEAD_BYTES);
        p.put(ProducerConfig.BUFFER_MEMORY_CONFIG, 64L << 20);
        p.put(ProducerConfig.LINGER_MS_CONFIG, 0);
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) Duration.ofMinutes(2).toMillis());
        return p;
    }

    static String codeVersion() {
        String v = ModelPublisher.class.getPackage().getImplementationVersion();
        return "freshet " + (v == null ? "0.1.0-SNAPSHOT (development build)" : v);
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("model publisher for " + config.modelName() + " is closed");
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        producer.close(Duration.ofSeconds(10));
    }
}
