package dev.freshet.platform;

import dev.freshet.config.CommonSettings;
import dev.freshet.config.ConfigSource;
import dev.freshet.config.Setting;
import dev.freshet.features.FeatureLayout;
import dev.freshet.featurestream.EmbeddedFeatureJob;
import dev.freshet.featurestream.FeatureStreamConfig;
import dev.freshet.ingest.ClickProducer;
import dev.freshet.ingest.IngestConfig;
import dev.freshet.kafka.EmbeddedKafka;
import dev.freshet.kafka.TopicAdmin;
import dev.freshet.platform.internal.FeatureTap;
import dev.freshet.platform.internal.PublishingSink;
import dev.freshet.publisher.ModelPublisher;
import dev.freshet.publisher.ModelStore;
import dev.freshet.serving.ModelSubscriber;
import dev.freshet.serving.ServingConfig;
import dev.freshet.publisher.PublisherConfig;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.TrainerBackend;
import dev.freshet.trainer.cpu.CpuBackend;
import dev.freshet.trainer.metrics.SlidingWindowMetrics;
import dev.freshet.trainer.cuda.CudaOptions;
import dev.freshet.trainer.host.HostModelState;
import dev.freshet.trainer.online.OnlineTrainer;
import dev.freshet.trainer.online.TrainerBackends;
import dev.freshet.trainer.online.TrainerConfig;
import dev.freshet.trainer.online.TrainerListener;
import dev.freshet.trainer.retrain.RetrainConfig;
import dev.freshet.trainer.retrain.RetrainScheduler;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import java.time.Clock;
import dev.freshet.schemas.Topics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;
import dev.freshet.platform.internal.ProgressMonitor;
import java.util.Deque;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;

/**
 * The whole pipeline in this process: the in-process KRaft broker and the topics, the Flink feature
 * job on a MiniCluster, the online trainer (GPU if found, else CPU) with the model publisher as its
 * sink, and one serving replica subscribed to the model updates. What {@code freshet demo} runs, and
 * what the end-to-end test and the pipeline benchmark drive.
 *
 * <p>Every component is the real one, configured from the same {@link ConfigSource} as in a
 * distributed deployment; only the Kafka address (the embedded broker's) and the directories (under
 * the work directory) are filled in here. {@link #close()} stops them in reverse order of start, each
 * cleanly (the feature job with a savepoint, the trainer with a checkpoint), so the work directory can
 * be resumed from.
 */
public final class EmbeddedFreshet implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedFreshet.class);
    private static final String DEFAULTS = "embedded-defaults.properties";

    /** Every setting the embedded pipeline reads (all its components'). */
    public static final List<Setting<?>> SETTINGS = FreshetCommands.distinct(concat(
            CommonSettings.SETTINGS, Topics.SETTINGS, TopicAdmin.SETTINGS, FeatureLayout.SETTINGS, IngestConfig.SETTINGS,
            FeatureStreamConfig.SETTINGS, TrainerConfig.SETTINGS, ModelConfig.SETTINGS, CpuBackend.SETTINGS, CudaOptions.SETTINGS,
            RetrainConfig.SETTINGS, PublisherConfig.SETTINGS, ServingConfig.SETTINGS));

    private final ConfigSource config;
    private final Path workDir;
    private final Topics topics;
    private final MetricsRegistry metrics = new MetricsRegistry();
    private final FreshnessTracker freshness;
    private final Deque<AutoCloseable> started = new ArrayDeque<>();
    private final long startNanos = System.nanoTime();
    private EmbeddedKafka kafka;
    private FeatureTap tap;
    private ClickProducer producer;
    private EmbeddedFeatureJob featureJob;
    private TrainerBackend backend;
    private ModelPublisher publisher;
    private ModelSubscriber serving;
    private OnlineTrainer trainer;
    private Thread trainerThread;
    private volatile Throwable trainerFailure;
    private final AtomicLong firstModelServedAt = new AtomicLong(-1);
    private final AtomicLong lastServedVersion = new AtomicLong(-1);
    private final List<LongConsumer> firstModelListeners = new CopyOnWriteArrayList<>();
    private boolean closed;

    private EmbeddedFreshet(ConfigSource config) {
        this.config = config;
        this.workDir = config.get(CommonSettings.WORK_DIR).toAbsolutePath().normalize();
        this.topics = Topics.from(config);
        this.freshness = new FreshnessTracker(topics.features());
    }

    /**
     * Starts every component. {@code userConfig} holds what the user gave; {@link #withEmbeddedDefaults}
     * fills the rest. On failure, what was started is stopped again before the exception propagates.
     */
    public static EmbeddedFreshet start(ConfigSource userConfig) throws Exception {
        EmbeddedFreshet f = new EmbeddedFreshet(withEmbeddedDefaults(userConfig));
        try {
            f.startAll();
            return f;
        } catch (Exception | Error e) {
            f.close();
            throw e;
        }
    }

    /** {@code config} plus the embedded mode's defaults (resource {@value #DEFAULTS}) for every key it does not set. */
    public static ConfigSource withEmbeddedDefaults(ConfigSource config) {
        Properties p = new Properties();
        try (InputStream in = EmbeddedFreshet.class.getResourceAsStream(DEFAULTS)) {
            p.load(Objects.requireNonNull(in, DEFAULTS));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        ConfigSource out = config;
        for (String key : p.stringPropertyNames()) {
            if (!config.values().containsKey(key)) {
                out = out.with(key, p.getProperty(key).trim());
            }
        }
        return out;
    }

    private void startAll() throws Exception {
        Files.createDirectories(workDir);
        kafka = EmbeddedKafka.start(workDir.resolve("kafka"));
        started.push(kafka);
        ConfigSource c = resolved();
        TopicAdmin.createAll(kafka, topics, TopicAdmin.Config.from(c));

        tap = new FeatureTap(kafka.bootstrapServers(), topics, freshness);
        started.push(tap);

        startServing(c);
        startTrainer(c);

        featureJob = EmbeddedFeatureJob.start(FeatureStreamConfig.from(c));
        started.push(featureJob);

        producer = ClickProducer.create(IngestConfig.from(c));
        started.push(producer);
        registerMetrics();
        LOG.info("embedded Freshet up in {} ms: Kafka {}, work dir {}", (System.nanoTime() - startNanos) / 1_000_000,
                kafka.bootstrapServers(), workDir);
    }

    /** The config the components see: the broker's address, and directories under the work directory unless given. */
    private ConfigSource resolved() {
        ConfigSource c = config.with(CommonSettings.BOOTSTRAP_SERVERS, kafka.bootstrapServers())
                .with(CommonSettings.WORK_DIR, workDir.toString());
        c = underWorkDir(c, TrainerConfig.CHECKPOINT_DIR, "checkpoints");
        c = underWorkDir(c, TrainerConfig.PUBLISH_DIR, "trainer-updates");
        c = underWorkDir(c, PublisherConfig.STORE_DIR, "models");
        c = underWorkDir(c, RetrainConfig.DIR, "retrain");
        return c;
    }

    /**
     * One serving replica. Each version it swaps in is reported to the freshness tracker with the
     * input offsets its manifest records, at the moment of the swap: from then on it answers with it.
     */
    private void startServing(ConfigSource c) {
        ServingConfig servingConfig = ServingConfig.from(c);
        serving = new ModelSubscriber(servingConfig, Clock.systemUTC());
        started.push(serving);
        ModelStore store = ModelStore.open(servingConfig.storeDir(), servingConfig.modelName());
        serving.onSwap(model -> {
            long servedAt = System.currentTimeMillis();
            try {
                lastServedVersion.set(model.version());
                modelServed(store.manifest(model.version()).inputOffsets(), model.createdAt(), servedAt);
            } catch (RuntimeException e) {
                LOG.warn("cannot read the manifest of served version {} for freshness: {}", model.version(), e.toString());
            }
        });
    }

    /**
     * The trainer (on its own thread) with the publisher as its sink, and the retrain service beside it
     * as in {@code freshet publish}: on {@code retrain.interval}, on drift, or when {@code freshet retrain}
     * drops its request into {@code retrain.dir}, a candidate trained on a replay of {@code features}
     * replaces the online model if it scores better on the newest examples.
     */
    private void startTrainer(ConfigSource c) {
        FeatureLayout layout = FeatureLayout.from(c);
        ModelConfig model = ModelConfig.from(layout, c);
        TrainerConfig trainerConfig = TrainerConfig.from(c);
        backend = TrainerBackends.create(trainerConfig.backend(), model, c);
        started.push(backend);
        LOG.info("trainer backend: {}", backend.description());
        publisher = new ModelPublisher(PublisherConfig.from(c), layout, Clock.systemUTC());
        started.push(publisher);
        PublishingSink sink = new PublishingSink(publisher, backend::state);
        started.push(sink);
        trainer = OnlineTrainer.builder(trainerConfig, model, layout.id())
                .backend(backend)
                .sink(sink)
                .consumer(new KafkaConsumer<>(OnlineTrainer.consumerProperties(trainerConfig)))
                .stateAllocator(HostModelState::allocate)
                .listener(new TrainerListener() {
                    @Override
                    public void afterStep(long step, int partition, String from, String to, double loss) {
                        // "offset:example": every record before offset is wholly trained (freshness' trained stage)
                        freshness.trained(partition, Long.parseLong(to.substring(0, to.indexOf(':'))), System.currentTimeMillis());
                    }
                })
                .build();
        trainerThread = new Thread(() -> {
            try {
                trainer.run();
            } catch (Throwable e) {
                trainerFailure = e;
                LOG.error("the trainer stopped: {}", e.toString(), e);
            }
        }, "freshet-trainer");
        trainerThread.start();
        started.push(() -> {
            trainer.stop();
            trainerThread.join(120_000);
            trainer.close();
        });
        // Closed before the trainer (the started stack unwinds in reverse), as RetrainScheduler asks.
        started.push(RetrainScheduler.start(RetrainConfig.from(c), trainer,
                (m, threads) -> TrainerBackends.create(trainerConfig.backend(), m, c.with(CpuBackend.THREADS, Integer.toString(threads))),
                OnlineTrainer.consumerProperties(trainerConfig), trainerConfig.topics().features(), Clock.systemUTC()));
    }

    private ConfigSource underWorkDir(ConfigSource c, Setting<Path> setting, String sub) {
        return c.isSet(setting) ? c : c.with(setting, workDir.resolve(sub).toString());
    }

    private void registerMetrics() {
        metrics.counter("freshet_ingest_events_sent_total", "Click events handed to the producer.", Map.of(), producer::sent);
        metrics.counter("freshet_ingest_events_acked_total", "Click events the broker acknowledged (the pipeline's input).", Map.of(), producer::acked);
        metrics.counter("freshet_ingest_events_failed_total", "Click events the producer could not deliver.", Map.of(), producer::failed);
        metrics.counter("freshet_features_examples_total", "Examples committed to the features topic.", Map.of(), tap::examples);
        metrics.counter("freshet_features_records_total", "FeatureBatch records committed to the features topic.", Map.of(), tap::featureRecords);
        metrics.counter("freshet_dead_letters_total", "Records routed to a dead-letter topic.", Map.of("topic", topics.clicksDlq()), tap::clickDeadLetters);
        metrics.counter("freshet_dead_letters_total", "Records routed to a dead-letter topic.", Map.of("topic", topics.featuresDlq()), tap::featureDeadLetters);
        metrics.counter("freshet_trainer_examples_total", "Examples trained into the model.", Map.of(), trainer::trainedExamples);
        metrics.counter("freshet_trainer_steps_total", "Optimizer steps taken.", Map.of(), trainer::step);
        metrics.counter("freshet_trainer_rejected_records_total", "features records the trainer refused as invalid.", Map.of(),
                () -> trainer.rejectedRecords().values().stream().mapToLong(Long::longValue).sum());
        metrics.gauge("freshet_trainer_auc", "Progressive AUC over the trainer's metric window.", this::auc);
        metrics.gauge("freshet_trainer_logloss", "Progressive log loss over the trainer's metric window.", this::logLoss);
        metrics.counter("freshet_publisher_deltas_total", "DELTA versions published.", Map.of(), () -> publisher.metrics().deltasPublished());
        metrics.counter("freshet_publisher_fulls_total", "FULL versions published.", Map.of(), () -> publisher.metrics().fullsPublished());
        metrics.counter("freshet_publisher_bytes_total", "DELTA payload bytes published.", Map.of(), () -> publisher.metrics().bytesPublished());
        metrics.counter("freshet_publisher_failures_total", "Versions whose announcement failed.", Map.of(), () -> publisher.metrics().publishFailures());
        metrics.gauge("freshet_publisher_version", "Newest version published.", () -> publisher.metrics().lastVersion());
        metrics.gauge("freshet_serving_version", "Version the serving replica answers with (-1: none).", serving::currentVersion);
        metrics.counter("freshet_serving_deltas_applied_total", "DELTAs the serving replica applied.", Map.of(), serving::deltasApplied);
        metrics.counter("freshet_serving_deltas_merged_total", "DELTAs the serving replica applied together with a later one, never serving them alone.",
                Map.of(), serving::deltasMerged);
        metrics.counter("freshet_serving_fulls_loaded_total", "FULL versions the serving replica loaded.", Map.of(), serving::fullsLoaded);
        metrics.counter("freshet_serving_resyncs_total", "Times the serving replica rebuilt its model from the store.", Map.of(), serving::resyncs);
        metrics.gauge("freshet_serving_lag_seconds", "How long the newest announced version has waited to be served.", () -> serving.lagMillis() / 1000.0);
        metrics.gauge("freshet_freshness_p50_seconds", "Median production-to-served latency of examples since the first model.",
                () -> freshness.summary().p50Seconds());
        metrics.gauge("freshet_freshness_p99_seconds", "99th percentile production-to-served latency since the first model.",
                () -> freshness.summary().p99Seconds());
        metrics.gauge("freshet_uptime_seconds", "Seconds since the embedded pipeline started.", () -> (System.nanoTime() - startNanos) / 1e9);
    }

    @SafeVarargs
    private static List<Setting<?>> concat(List<Setting<?>>... lists) {
        List<Setting<?>> all = new ArrayList<>();
        for (List<Setting<?>> l : lists) all.addAll(l);
        return all;
    }

    /** What the progress line and status page show, read from the components' own counters. */
    public ProgressMonitor.Readings readings() {
        return new ProgressMonitor.Readings(producer::acked, tap::examples, this::trained, this::deadLettered,
                this::auc, this::logLoss, this::servedVersion);
    }

    /** Examples trained into the model since this process started it (resumed ones included). */
    public long trained() {
        return trainer == null ? 0 : trainer.trainedExamples();
    }

    private double auc() {
        return trainer == null ? Double.NaN : metricsSnapshot().auc();
    }

    private double logLoss() {
        return trainer == null ? Double.NaN : metricsSnapshot().logLoss();
    }

    private volatile SlidingWindowMetrics.Snapshot snapshot;
    private volatile long snapshotAt;

    /** One window snapshot serves AUC and log loss read together (computing AUC sorts the whole window). */
    private SlidingWindowMetrics.Snapshot metricsSnapshot() {
        long now = System.nanoTime();
        SlidingWindowMetrics.Snapshot s = snapshot;
        if (s == null || now - snapshotAt > 100_000_000L) {
            s = trainer.metrics();
            snapshot = s;
            snapshotAt = now;
        }
        return s;
    }

    /** The newest version the serving replica answers (or, once stopped, last answered) with; -1: none yet. */
    public long servedVersion() {
        long now = serving == null ? -1 : serving.currentVersion();
        return now >= 0 ? now : lastServedVersion.get();
    }

    /** The serving replica (predictions, its current version). */
    public ModelSubscriber serving() {
        return serving;
    }

    /** The trainer backend in words, e.g. "cpu (2 threads)" or "cuda (NVIDIA H200, ...)". */
    public String trainerDescription() {
        return backend == null ? "none" : backend.description();
    }

    public OnlineTrainer trainer() {
        return trainer;
    }

    public ModelPublisher publisher() {
        return publisher;
    }

    /** Why the trainer stopped on its own (divergence, a bug), or null while it runs. */
    public Throwable trainerFailure() {
        return trainerFailure;
    }

    /** Events routed to a dead-letter topic anywhere in the pipeline. */
    public long deadLettered() {
        return tap.clickDeadLetters() + tap.featureDeadLetters();
    }

    /**
     * True when every one of {@code produced} events is trained or dead-lettered. Without
     * {@code trainer.batch-linger} (the embedded defaults set one), all but fewer than one batch: the
     * trainer then cuts batches at fixed points of the stream and trains a partial batch only when more
     * examples complete it.
     */
    public boolean caughtUp(long produced) {
        long untrainable = trainsPartialBatches() ? 0 : batchSize() - 1;
        return trained() + deadLettered() >= produced - untrainable;
    }

    /** Whether the trainer trains a partial batch after {@code trainer.batch-linger} (so that every example gets trained). */
    public boolean trainsPartialBatches() {
        return !config.get(TrainerConfig.BATCH_LINGER).isZero();
    }

    /** Examples per training step ({@code model.batch-size}). */
    public int batchSize() {
        return trainer == null ? 1 : trainer.config().batchSize();
    }

    /**
     * How long the newest trainer checkpoint took to write, in ms (training stands still meanwhile); -1
     * before the first. Stopping writes one.
     */
    public long lastCheckpointStallMillis() {
        Duration d = trainer == null ? null : trainer.lastCheckpointDuration();
        return d == null ? -1 : d.toMillis();
    }

    /** Epoch ms at which a serving replica first answered with a model, or -1. */
    public long firstModelServedAt() {
        return firstModelServedAt.get();
    }

    /** Calls {@code listener} with the epoch ms of the first served model (at once if that already happened). */
    public void onFirstModel(LongConsumer listener) {
        firstModelListeners.add(listener);
        long at = firstModelServedAt.get();
        if (at >= 0 && firstModelListeners.remove(listener)) {
            listener.accept(at);
        }
    }

    private void modelServed(Map<String, Long> inputOffsets, long publishedAt, long servedAt) {
        if (firstModelServedAt.compareAndSet(-1, servedAt)) {
            freshness.steadyStateFrom(servedAt);
            for (LongConsumer l : firstModelListeners) {
                if (firstModelListeners.remove(l)) l.accept(servedAt);
            }
        }
        freshness.versionServed(inputOffsets, publishedAt, servedAt);
    }

    public ConfigSource config() {
        return config;
    }

    public Path workDir() {
        return workDir;
    }

    /** Events already in the clicks topic: what earlier runs on this work directory produced. */
    public long clicksInTopic() {
        return TopicAdmin.endOffsetSum(kafka.admin(), topics.clicks());
    }

    public Topics topics() {
        return topics;
    }

    public EmbeddedKafka kafka() {
        return kafka;
    }

    public MetricsRegistry metrics() {
        return metrics;
    }

    public FreshnessTracker freshness() {
        return freshness;
    }

    /** The producer of the clicks topic (the same one `freshet ingest` uses). */
    public ClickProducer producer() {
        return producer;
    }

    public FeatureTap featureTap() {
        return tap;
    }

    public FeatureLayout layout() {
        return FeatureLayout.from(config);
    }

    /** Stops every component in reverse order of start; idempotent. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        while (!started.isEmpty()) {
            AutoCloseable c = started.pop();
            try {
                c.close();
            } catch (Exception e) {
                LOG.warn("stopping {} failed: {}", c.getClass().getSimpleName(), e.toString());
            }
        }
    }
}
