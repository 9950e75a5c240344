package dev.freshet.serving;

import dev.freshet.publisher.DeltaPayload;
import dev.freshet.publisher.ModelManifest;
import dev.freshet.publisher.ModelStore;
import dev.freshet.publisher.internal.Sha256;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.ConsumerThreads;
import dev.freshet.schemas.ModelUpdate;
import dev.freshet.schemas.UpdateKind;
import dev.freshet.schemas.serde.AvroCodec;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.time.Clock;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Keeps a serving replica's model current from the {@code model-updates} topic (read_committed, so a
 * DELTA's chunks arrive all or none) and the model store.
 *
 * <p>Start-up loads the newest FULL and the DELTAs after it from the store. Then each FULL record is
 * loaded from the store (its manifest checked against the record's SHA-256, every file against the
 * manifest), and each DELTA is assembled from its chunks, each chunk and the whole checked against their
 * SHA-256, and applied only on top of the version it names as parent. Anything else — a gap in the
 * versions, a duplicate, a chunk out of order or missing, a corrupt chunk or payload — is counted by
 * kind and answered by a resync: the newest FULL and its DELTA chain are rebuilt from the store, verified
 * file by file (where the store holds nothing newer than what is served, the served version stays until
 * the next FULL or an applicable DELTA). The current version is swapped in one volatile write of an
 * immutable {@link ServingModel}, so a request sees one version, never a mix; nothing unverified is ever
 * swapped in.
 *
 * <p><b>A backlog is applied as one version.</b> The DELTAs of one poll are verified and decoded one by
 * one, each against the one before, and then built into one new version, the last one's (each touched
 * page copied once, one ONNX session). DELTAs queue up here while the one before is being applied, and
 * building each of them in turn kept a replica that fell behind for a moment (a GC pause, busy cores)
 * behind for as many DELTAs: in the pipeline benchmark at 10,000 events/s a DELTA took 10-50 ms of the
 * replica's CPU but up to 400 ms of wall time, four arrive a second, and the replica started 7 s behind
 * after the first minute's backlog (now one build of seven DELTAs). The versions in between are never
 * served; {@link #deltasMerged()} counts them.
 */
public final class ModelSubscriber implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ModelSubscriber.class);

    /** Why the subscriber resynced from the store. */
    public enum Anomaly { GAP, DUPLICATE, CHUNK_ORDER, CORRUPT, LOAD_FAILED }

    private final ServingConfig config;
    private final ModelStore store;
    private final Consumer<String, byte[]> consumer;
    /** Decoded here rather than in the consumer, so that a malformed record is counted instead of stopping the poll loop. */
    private final AvroCodec<ModelUpdate> codec = new AvroCodec<>(ModelUpdate.class);
    private final Clock clock;
    private final Thread thread;
    private volatile ServingModel current;
    private volatile boolean running = true;
    private volatile long newestSeen = -1;
    private volatile long newestSeenCreatedAt = 0;
    private volatile Throwable lastError;
    private volatile java.util.function.Consumer<ServingModel> swapListener = m -> { };

    // Consumer-thread state.
    private long highestCompleteOnTopic = -1;
    private Assembly assembly;
    private long skipVersion = -1;

    private final Map<Anomaly, AtomicLong> anomalies = new EnumMap<>(Anomaly.class);
    private final AtomicLong resyncs = new AtomicLong();
    private final AtomicLong deltasApplied = new AtomicLong();
    private final AtomicLong fullsLoaded = new AtomicLong();
    private final AtomicLong rowsApplied = new AtomicLong();
    private final AtomicLong applyNanos = new AtomicLong();
    private final AtomicLong skipped = new AtomicLong();
    private final AtomicLong merged = new AtomicLong();

    /** Verified, decoded DELTAs of the current poll, each on the one before, the first on {@code current}: built by {@link #flush}. */
    private final List<Received> received = new ArrayList<>();

    private record Received(DeltaPayload payload, long createdAt, long decodeNanos) {
    }

    private static final class Assembly {
        final long version;
        final long parent;
        final int count;
        final String contentSha;
        final long createdAt;
        /** The chunks' payloads as decoded (each its own buffer), and the digest of all of them so far. */
        final List<ByteBuffer> chunks = new ArrayList<>();
        final MessageDigest content = Sha256.digest();
        long size;
        int next;

        Assembly(ModelUpdate u) {
            version = u.getVersion();
            parent = u.getParentVersion() == null ? -1 : u.getParentVersion();
            count = u.getChunkCount();
            contentSha = u.getContentSha256();
            createdAt = u.getCreatedAt().toEpochMilli();
        }
    }

    public ModelSubscriber(ServingConfig config, Clock clock) {
        this(config, clock, new KafkaConsumer<>(consumerProps(config), new StringDeserializer(), new ByteArrayDeserializer()));
    }

    ModelSubscriber(ServingConfig config, Clock clock, Consumer<String, byte[]> consumer) {
        this.config = Objects.requireNonNull(config, "config");
        this.clock = Objects.requireNonNull(clock, "clock");
        this.consumer = Objects.requireNonNull(consumer, "consumer");
        this.store = ModelStore.open(config.storeDir(), config.modelName());
        for (Anomaly a : Anomaly.values()) anomalies.put(a, new AtomicLong());
        try {
            resyncFromStore("start-up");
        } catch (RuntimeException e) {
            lastError = e;
            LOG.error("serving {}: no usable model in the store at start-up ({}); waiting for a FULL", config.modelName(), e.getMessage());
        }
        try {
            assign();
        } catch (RuntimeException e) {
            consumer.close();
            ServingModel m = current;
            current = null;
            if (m != null) m.release();
            throw e;
        }
        this.thread = new Thread(this::run, "freshet-model-subscriber-" + config.modelName());
        thread.setDaemon(true);
        thread.start();
    }

    static Map<String, Object> consumerProps(ServingConfig config) {
        Map<String, Object> p = new HashMap<>();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 8 << 20);
        p.put(ConsumerConfig.FETCH_MAX_BYTES_CONFIG, 64 << 20);
        return p;
    }

    /** Every partition of the topic, from the records around the loaded version on (every replica reads everything). */
    private void assign() {
        String topic = config.topics().modelUpdates();
        List<PartitionInfo> infos = consumer.partitionsFor(topic, java.time.Duration.ofSeconds(30));
        if (infos == null || infos.isEmpty()) {
            throw new IllegalStateException("topic " + topic + " does not exist on " + config.bootstrapServers()
                    + ". Fix: create the Freshet topics (freshet topics create) or check topics.prefix");
        }
        List<TopicPartition> parts = infos.stream().map(i -> new TopicPartition(topic, i.partition())).toList();
        consumer.assign(parts);
        ServingModel m = current;
        if (m == null) {
            consumer.seekToBeginning(parts);
            for (TopicPartition tp : parts) consumer.position(tp);
            return;
        }
        Map<TopicPartition, Long> at = new HashMap<>();
        for (TopicPartition tp : parts) at.put(tp, Math.max(0, m.createdAt() - 60_000));
        Map<TopicPartition, OffsetAndTimestamp> offsets = consumer.offsetsForTimes(at);
        for (TopicPartition tp : parts) {
            OffsetAndTimestamp o = offsets.get(tp);
            if (o == null) consumer.seekToEnd(List.of(tp));
            else consumer.seek(tp, o.offset());
            // Resolve the lazy seek now, so that records written after start-up are never skipped.
            consumer.position(tp);
        }
    }

    private void run() {
        try {
            while (running) {
                for (ConsumerRecord<String, byte[]> r : consumer.poll(config.pollTimeout())) {
                    if (!config.modelName().equals(r.key()) || r.value() == null) continue;
                    ModelUpdate update;
                    try {
                        update = codec.decode(r.value());
                    } catch (RuntimeException e) {
                        lastError = e;
                        anomaly(Anomaly.CORRUPT, "record at offset " + r.offset() + " is not a ModelUpdate: " + e.getMessage());
                        continue;
                    }
                    try {
                        receive(update);
                    } catch (RuntimeException e) {
                        lastError = e;
                        LOG.error("serving {}: update at offset {} failed: {}", config.modelName(), r.offset(), e.toString());
                        anomaly(Anomaly.LOAD_FAILED, e.getMessage());
                    }
                }
                // Whatever this poll brought is built into one version now; the next poll waits for nothing we hold.
                flushOrResync();
            }
        } catch (WakeupException e) {
            if (running) throw e;
        } catch (RuntimeException e) {
            lastError = e;
            LOG.error("serving {}: the model subscriber stopped: {}", config.modelName(), e.toString(), e);
        } finally {
            consumer.close();
        }
    }

    /** One record from the topic, served at once; package-private so tests can drive the state machine record by record. */
    void handle(ModelUpdate u) {
        receive(u);
        flushOrResync();
    }

    /** One record from the topic; a completed DELTA waits in {@link #received} for {@link #flush}. */
    private void receive(ModelUpdate u) {
        noteSeen(u.getVersion(), u.getCreatedAt().toEpochMilli());
        if (u.getKind() == UpdateKind.FULL) {
            flush();
            if (assembly != null) {
                anomaly(Anomaly.CHUNK_ORDER, "DELTA " + assembly.version + " stopped after chunk " + assembly.next + " of " + assembly.count + " before FULL " + u.getVersion());
                assembly = null;
            }
            highestCompleteOnTopic = Math.max(highestCompleteOnTopic, u.getVersion());
            ServingModel m = current;
            if (m != null && u.getVersion() <= m.version()) {
                skipped.incrementAndGet();
                return;
            }
            loadFull(u);
            return;
        }
        if (u.getVersion() == skipVersion) return;
        if (assembly != null && assembly.version != u.getVersion()) {
            skipVersion = assembly.version;
            assembly = null;
            anomaly(Anomaly.CHUNK_ORDER, "DELTA " + skipVersion + " is incomplete: a record of version " + u.getVersion() + " came between its chunks");
        }
        if (assembly == null) {
            if (u.getChunkIndex() != 0) {
                skipVersion = u.getVersion();
                anomaly(Anomaly.CHUNK_ORDER, "DELTA " + u.getVersion() + " starts with chunk " + u.getChunkIndex() + " of " + u.getChunkCount());
                return;
            }
            assembly = new Assembly(u);
        } else if (u.getChunkIndex() != assembly.next || u.getChunkCount() != assembly.count
                || !u.getContentSha256().equals(assembly.contentSha)) {
            int expected = assembly.next;
            skipVersion = u.getVersion();
            assembly = null;
            anomaly(Anomaly.CHUNK_ORDER, "DELTA " + u.getVersion() + ": chunk " + u.getChunkIndex() + " of " + u.getChunkCount()
                    + " where chunk " + expected + " was expected");
            return;
        }
        // The decoded record's own buffer, kept as it is: hashed here, copied once when the DELTA is complete.
        ByteBuffer chunk = u.getPayload().duplicate();
        MessageDigest digest = Sha256.digest();
        digest.update(chunk.duplicate());
        String sha = Sha256.hex(digest);
        if (!sha.equals(u.getPayloadSha256())) {
            skipVersion = u.getVersion();
            assembly = null;
            anomaly(Anomaly.CORRUPT, "DELTA " + u.getVersion() + " chunk " + u.getChunkIndex() + " has SHA-256 " + sha
                    + ", its record says " + u.getPayloadSha256());
            return;
        }
        assembly.content.update(chunk.duplicate());
        assembly.chunks.add(chunk);
        assembly.size += chunk.remaining();
        assembly.next++;
        if (assembly.next < assembly.count) return;
        Assembly done = assembly;
        assembly = null;
        completeDelta(done);
    }

    private void completeDelta(Assembly a) {
        String sha = Sha256.hex(a.content);
        if (!sha.equals(a.contentSha)) {
            anomaly(Anomaly.CORRUPT, "DELTA " + a.version + " joined has SHA-256 " + sha + ", its records say " + a.contentSha);
            return;
        }
        if (a.version <= highestCompleteOnTopic) {
            anomaly(Anomaly.DUPLICATE, "DELTA " + a.version + " arrived again (newest complete version on the topic: " + highestCompleteOnTopic + ")");
            return;
        }
        highestCompleteOnTopic = a.version;
        ServingModel m = current;
        if (m == null) {
            anomaly(Anomaly.GAP, "DELTA " + a.version + " arrived before any FULL");
            return;
        }
        long head = received.isEmpty() ? m.version() : received.get(received.size() - 1).payload().version();
        if (a.version <= head) {
            // A resync from the store already took us past it.
            skipped.incrementAndGet();
            return;
        }
        if (a.parent != head) {
            anomaly(Anomaly.GAP, "DELTA " + a.version + " applies on " + a.parent + " but serving holds " + head);
            return;
        }
        if (a.size > Integer.MAX_VALUE - 64) {
            anomaly(Anomaly.CORRUPT, "DELTA " + a.version + " has " + a.size + " bytes, over the 2 GiB a payload can hold");
            return;
        }
        long t0 = System.nanoTime();
        byte[] payload = new byte[(int) a.size];
        int at = 0;
        for (ByteBuffer chunk : a.chunks) {
            int n = chunk.remaining();
            chunk.get(payload, at, n);
            at += n;
        }
        DeltaPayload delta = DeltaPayload.decode(payload, m.config());
        if (delta.version() != a.version || delta.parent() != a.parent) {
            anomaly(Anomaly.CORRUPT, "DELTA record says version " + a.version + " on " + a.parent + ", its payload " + delta.version() + " on " + delta.parent());
            return;
        }
        received.add(new Received(delta, a.createdAt, System.nanoTime() - t0));
    }

    /** {@link #flush}, answering a failure to build the version with a resync. */
    private void flushOrResync() {
        try {
            flush();
        } catch (RuntimeException e) {
            lastError = e;
            LOG.error("serving {}: applying received DELTAs failed: {}", config.modelName(), e.toString());
            anomaly(Anomaly.LOAD_FAILED, e.getMessage());
        }
    }

    /** Builds the DELTAs received so far into one version, the newest's, and swaps it in. */
    private void flush() {
        if (received.isEmpty()) return;
        List<Received> batch = List.copyOf(received);
        received.clear();
        ServingModel m = current;
        long t0 = System.nanoTime();
        Received last = batch.get(batch.size() - 1);
        ServingModel next = m.apply(batch.stream().map(Received::payload).toList(), last.createdAt());
        long rows = 0;
        long decode = 0;
        for (Received r : batch) {
            rows += r.payload().delta().rowCount();
            decode += r.decodeNanos();
        }
        // Counted before the swap, so that whoever sees the new version also sees what it cost.
        deltasApplied.addAndGet(batch.size());
        merged.addAndGet(batch.size() - 1);
        rowsApplied.addAndGet(rows);
        applyNanos.addAndGet(System.nanoTime() - t0 + decode);
        swap(next);
    }

    private void loadFull(ModelUpdate u) {
        long v = u.getVersion();
        if (u.getArtifactRef() == null) {
            anomaly(Anomaly.CORRUPT, "FULL " + v + " names no artifact");
            return;
        }
        long refVersion = store.versionOf(u.getArtifactRef());
        if (refVersion != v) {
            anomaly(Anomaly.CORRUPT, "FULL " + v + " names artifact " + u.getArtifactRef() + " of version " + refVersion);
            return;
        }
        byte[] manifestBytes = store.manifestBytes(v);
        String sha = Sha256.hex(manifestBytes);
        if (!sha.equals(u.getContentSha256())) {
            anomaly(Anomaly.CORRUPT, "FULL " + v + " manifest has SHA-256 " + sha + ", the record says " + u.getContentSha256());
            return;
        }
        ModelManifest m = store.parseManifest(manifestBytes, v);
        swap(ServingModel.load(store, m, config.layout()));
        fullsLoaded.incrementAndGet();
    }

    private void anomaly(Anomaly kind, String why) {
        // What was received intact before the fault is served first; a failure there leaves it to the resync.
        try {
            flush();
        } catch (RuntimeException e) {
            lastError = e;
            LOG.error("serving {}: applying received DELTAs failed: {}", config.modelName(), e.toString());
        }
        anomalies.get(kind).incrementAndGet();
        LOG.warn("serving {}: {} ({}); resyncing from the model store", config.modelName(), why, kind);
        try {
            resyncFromStore(kind.name());
        } catch (RuntimeException e) {
            lastError = e;
            LOG.error("serving {}: resync from the store failed ({}); keeping version {} until the next FULL", config.modelName(),
                    e.getMessage(), current == null ? "none" : current.version());
        }
    }

    /** Rebuilds the newest model from the store: the newest FULL, then its DELTAs in order, every file verified. */
    private void resyncFromStore(String reason) {
        List<ModelManifest> chain = store.latestChain();
        if (chain.isEmpty()) {
            LOG.info("serving {}: the store holds no FULL version yet", config.modelName());
            return;
        }
        ModelManifest last = chain.get(chain.size() - 1);
        ServingModel m = current;
        if (m != null && last.version() <= m.version()) {
            // Nothing newer to rebuild: what is served was verified and stays until a FULL or an applicable DELTA arrives.
            LOG.info("serving {}: the store's newest chain ends at {}, not past the served {}; keeping it", config.modelName(), last.version(), m.version());
            return;
        }
        if (!reason.equals("start-up")) resyncs.incrementAndGet();
        // One pass: the DELTAs are written into the FULL's fresh tables, and one ONNX session is built, for the last.
        ServingModel model = ServingModel.load(store, chain, config.layout());
        noteSeen(model.version(), model.createdAt());
        swap(model);
        LOG.info("serving {}: resynced ({}) to version {} from FULL {} and {} DELTAs", config.modelName(), reason, model.version(),
                chain.get(0).version(), chain.size() - 1);
    }

    private void swap(ServingModel next) {
        ServingModel old = current;
        current = next;
        if (old != null) old.release();
        try {
            swapListener.accept(next);
        } catch (RuntimeException e) {
            LOG.warn("serving {}: version listener failed: {}", config.modelName(), e.toString());
        }
    }

    /**
     * Called on the subscriber's thread right after each new version is swapped in (e.g. to log or warm it).
     * The model is valid for the duration of the call.
     */
    public void onSwap(java.util.function.Consumer<ServingModel> listener) {
        this.swapListener = Objects.requireNonNull(listener, "listener");
    }

    private void noteSeen(long version, long createdAt) {
        if (version > newestSeen) {
            newestSeen = version;
            newestSeenCreatedAt = createdAt;
        }
    }

    // ---- serving ----

    /** Scores a batch against the current version (one version for the whole batch). */
    public ServingModel.Prediction predict(List<ClickEvent> events) {
        while (true) {
            ServingModel m = current;
            if (m == null) {
                throw new IllegalStateException("model " + config.modelName() + " has no version loaded yet: no FULL in the store "
                        + config.storeDir() + " nor on " + config.topics().modelUpdates());
            }
            if (!m.acquire()) continue;
            try {
                return m.predict(events);
            } finally {
                m.release();
            }
        }
    }

    /**
     * The click probability of one event under the current version.
     *
     * @throws IllegalArgumentException naming the reason if the event does not fit the model's feature layout
     */
    public float predict(ClickEvent event) {
        ServingModel.Prediction p = predict(List.of(Objects.requireNonNull(event, "event")));
        if (p.errors()[0] != null) throw new IllegalArgumentException(p.errors()[0]);
        return p.probabilities()[0];
    }

    /** The version serving now, or null. The caller must not keep it across requests. */
    public ServingModel current() {
        return current;
    }

    public long currentVersion() {
        ServingModel m = current;
        return m == null ? -1 : m.version();
    }

    /** The newest version announced on the topic or found in the store. */
    public long newestSeenVersion() {
        return newestSeen;
    }

    /** How long the newest seen version has waited to be served (0 when it is served). */
    public long lagMillis() {
        ServingModel m = current;
        if (m != null && m.version() >= newestSeen) return 0;
        return Math.max(0, clock.millis() - newestSeenCreatedAt);
    }

    public long anomalies(Anomaly kind) {
        return anomalies.get(kind).get();
    }

    public long resyncs() {
        return resyncs.get();
    }

    public long deltasApplied() {
        return deltasApplied.get();
    }

    /** DELTAs applied together with a later one (received in the same poll) and so never served on their own. */
    public long deltasMerged() {
        return merged.get();
    }

    public long fullsLoaded() {
        return fullsLoaded.get();
    }

    public long rowsApplied() {
        return rowsApplied.get();
    }

    public double applySeconds() {
        return applyNanos.get() / 1e9;
    }

    public Throwable lastError() {
        return lastError;
    }

    public boolean running() {
        return thread.isAlive();
    }

    public ServingConfig config() {
        return config;
    }

    public String prometheus() {
        String l = "model=\"" + config.modelName() + "\"";
        StringBuilder sb = new StringBuilder();
        sb.append("# TYPE freshet_serving_version gauge\nfreshet_serving_version{").append(l).append("} ").append(currentVersion()).append('\n');
        sb.append("# TYPE freshet_serving_newest_version gauge\nfreshet_serving_newest_version{").append(l).append("} ").append(newestSeen).append('\n');
        sb.append("# TYPE freshet_serving_lag_seconds gauge\nfreshet_serving_lag_seconds{").append(l).append("} ").append(lagMillis() / 1000.0).append('\n');
        sb.append("# TYPE freshet_serving_updates_total counter\n");
        sb.append("freshet_serving_updates_total{").append(l).append(",kind=\"delta\"} ").append(deltasApplied()).append('\n');
        sb.append("freshet_serving_updates_total{").append(l).append(",kind=\"full\"} ").append(fullsLoaded()).append('\n');
        sb.append("# TYPE freshet_serving_deltas_merged_total counter\nfreshet_serving_deltas_merged_total{").append(l).append("} ").append(deltasMerged()).append('\n');
        sb.append("# TYPE freshet_serving_rows_applied_total counter\nfreshet_serving_rows_applied_total{").append(l).append("} ").append(rowsApplied()).append('\n');
        sb.append("# TYPE freshet_serving_resyncs_total counter\nfreshet_serving_resyncs_total{").append(l).append("} ").append(resyncs()).append('\n');
        sb.append("# TYPE freshet_serving_anomalies_total counter\n");
        for (Anomaly a : Anomaly.values()) {
            sb.append("freshet_serving_anomalies_total{").append(l).append(",kind=\"").append(a.name().toLowerCase()).append("\"} ")
                    .append(anomalies(a)).append('\n');
        }
        return sb.toString();
    }

    @Override
    public void close() {
        if (!running) return;
        running = false;
        ConsumerThreads.wakeAndJoin(consumer, thread);
        ServingModel m = current;
        current = null;
        if (m != null) m.release();
    }
}
