package dev.freshet.trainer.retrain;

import dev.freshet.config.ConfigSource;
import dev.freshet.kafka.EmbeddedKafka;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.cpu.CpuBackend;
import dev.freshet.trainer.host.HostModelState;
import dev.freshet.trainer.online.FileModelSink;
import dev.freshet.trainer.online.OnlineTrainer;
import dev.freshet.trainer.online.TrainerConfig;
import dev.freshet.trainer.online.TrainerListener;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;

/**
 * One test's world: a {@code features} topic on the shared broker fed by the synthetic stream, and the
 * real online trainer (CPU backend, file sink) training it on its own thread, recording which events it
 * trained into which model generation.
 */
final class Rig implements AutoCloseable {
    static final int PARTITIONS = 2;
    static final int BATCH = 200;

    final String topic;
    final SyntheticFeatures features;
    final ModelConfig model;
    final RecordingBackend backend;
    final FileModelSink sink;
    final OnlineTrainer trainer;
    final Path dir;
    final Map<String, Object> clientProps;
    /** Event ids the online trainer trained, per model generation (0 before any promotion). */
    final Map<Integer, List<String>> onlineIds = new java.util.concurrent.ConcurrentHashMap<>();
    /** Per partition, the offset after the last record the online trainer has finished (and recorded). */
    private final Map<TopicPartition, Long> trained = new java.util.concurrent.ConcurrentHashMap<>();
    private final Thread thread;
    private volatile Throwable failure;

    Rig(EmbeddedKafka kafka, String name, Path dir, long seed, long shiftAfter) {
        this(kafka, name, dir, dev.freshet.ingest.SyntheticConfig.defaults().withSeed(seed).withShiftAfter(shiftAfter).withIdsPerTable(2000));
    }

    Rig(EmbeddedKafka kafka, String name, Path dir, dev.freshet.ingest.SyntheticConfig synthetic) {
        this.dir = dir;
        this.topic = name + "-features";
        kafka.createTopic(topic, PARTITIONS, SyntheticFeatures.KEEP_FOREVER);
        this.clientProps = kafka.clientProps();
        this.features = new SyntheticFeatures(clientProps, topic, PARTITIONS, BATCH, synthetic);
        this.model = ModelConfig.from(SyntheticFeatures.LAYOUT, ConfigSource.of(Map.of(
                "model.embedding-dim", "8", "model.bottom-mlp", "16,8", "model.top-mlp", "32,1",
                "model.batch-size", Integer.toString(BATCH), "model.seed", "5",
                "model.embedding-learning-rate", "0.1", "model.dense-learning-rate", "0.02")));
        Map<String, String> m = new HashMap<>();
        m.put("kafka.bootstrap-servers", kafka.bootstrapServers());
        m.put("topics.prefix", name + "-");
        m.put("trainer.group-id", name + "-trainer");
        m.put("trainer.checkpoint-dir", dir.resolve("checkpoints").toString());
        m.put("trainer.publish-dir", dir.resolve("published").toString());
        m.put("trainer.checkpoint-interval", "1d");
        m.put("trainer.delta-interval", "1d");
        m.put("trainer.status-interval", "1h");
        m.put("trainer.metric-window", "4000");
        m.put("trainer.poll-timeout", "50ms");
        TrainerConfig config = TrainerConfig.from(ConfigSource.of(m));
        this.backend = new RecordingBackend(CpuBackend.create(model, 1));
        this.sink = new FileModelSink(config.publishDir(), 2, 4);
        TrainerListener listener = new TrainerListener() {
            @Override
            public void afterStep(long step, int partition, String from, String to, double loss) {
                TopicPartition tp = new TopicPartition(topic, partition);
                List<String> ids = onlineIds.computeIfAbsent(backend.generation(), g -> Collections.synchronizedList(new ArrayList<>()));
                ids.addAll(ids(tp, from, to));
                trained.put(tp, Long.parseLong(to.split(":")[0]));
            }
        };
        this.trainer = OnlineTrainer.builder(config, model, SyntheticFeatures.LAYOUT.id())
                .backend(backend).sink(sink).listener(listener)
                .consumer(new KafkaConsumer<>(OnlineTrainer.consumerProperties(config)))
                .stateAllocator(HostModelState::allocate)
                .build();
        this.thread = new Thread(() -> {
            try {
                trainer.run();
            } catch (Throwable t) {
                failure = t;
            }
        }, name + "-online-trainer");
        thread.start();
    }

    /** The event ids of examples [from, to) of one partition, positions written "offset:example". */
    List<String> ids(TopicPartition tp, String from, String to) {
        long fromOffset = Long.parseLong(from.split(":")[0]);
        int fromSkip = Integer.parseInt(from.split(":")[1]);
        long toOffset = Long.parseLong(to.split(":")[0]);
        int toSkip = Integer.parseInt(to.split(":")[1]);
        List<String> out = new ArrayList<>();
        for (long o = fromOffset; o <= toOffset; o++) {
            List<String> record = features.idsAt(tp, o);
            if (record == null) continue;
            int a = o == fromOffset ? fromSkip : 0;
            int b = o == toOffset ? toSkip : record.size();
            out.addAll(record.subList(a, b));
        }
        return out;
    }

    /** Event ids of every record in [from, to) per partition. */
    List<String> idsBetween(Map<String, Long> from, Map<String, Long> to) {
        List<String> out = new ArrayList<>();
        for (Map.Entry<String, Long> e : to.entrySet()) {
            TopicPartition tp = new TopicPartition(topic, Integer.parseInt(e.getKey().substring(e.getKey().lastIndexOf('-') + 1)));
            for (long o = from.get(e.getKey()); o < e.getValue(); o++) {
                List<String> record = features.idsAt(tp, o);
                if (record != null) out.addAll(record);
            }
        }
        return out;
    }

    /** Records produced so far per partition: where the online trainer stands once it has caught up. */
    Map<TopicPartition, Long> produced() {
        long records = features.events() / BATCH;
        Map<TopicPartition, Long> m = new HashMap<>();
        for (int p = 0; p < PARTITIONS; p++) m.put(new TopicPartition(topic, p), (records - p + PARTITIONS - 1) / PARTITIONS);
        return m;
    }

    /** Waits until the online trainer has trained everything produced. */
    void awaitCaughtUp() throws TimeoutException, InterruptedException {
        Map<TopicPartition, Long> target = produced();
        await(() -> trained.equals(target), "the online trainer to reach " + target + " (at " + trained + ")");
    }

    void await(BooleanSupplier condition, String what) throws TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!condition.getAsBoolean()) {
            if (failure != null) throw new AssertionError("the online trainer failed", failure);
            if (System.nanoTime() > deadline) throw new TimeoutException("timed out waiting for " + what);
            Thread.sleep(10);
        }
    }

    /** A retrain job against this rig's online trainer, its clock stopped at the event time of event {@code now}. */
    RetrainJob job(Map<String, String> settings, long now, RetrainJob.Backends backends) {
        RetrainConfig config = retrainConfig(settings);
        return new RetrainJob(config, trainer, backends, clientProps, topic, clockAt(now), config.dir());
    }

    /** The clock of a retrain that runs when event {@code now} is the newest. */
    static Clock clockAt(long now) {
        return Clock.fixed(SyntheticFeatures.eventTime(now), ZoneOffset.UTC);
    }

    /** Test defaults (a 4,000-example held-out slice, decisions under this rig's directory) plus {@code settings}. */
    RetrainConfig retrainConfig(Map<String, String> settings) {
        Map<String, String> m = new HashMap<>();
        m.put("retrain.dir", dir.resolve("retrain").toString());
        m.put("retrain.holdout-examples", "4000");
        m.put("retrain.min-holdout-examples", "2000");
        m.put("retrain.holdout-timeout", "30s");
        m.put("retrain.shuffle-buffer", "4000");
        m.put("retrain.progress", "false");
        m.putAll(settings);
        return RetrainConfig.from(ConfigSource.of(m));
    }

    static RetrainJob.Backends cpu() {
        return (config, threads) -> CpuBackend.create(config, threads);
    }

    /** The window length that makes a retrain at event {@code now} start at event {@code from}. */
    static String window(long from, long now) {
        return Duration.between(SyntheticFeatures.eventTime(from), SyntheticFeatures.eventTime(now)).toMillis() + "ms";
    }

    Throwable failure() {
        return failure;
    }

    @Override
    public void close() throws Exception {
        trainer.stop();
        thread.join(30_000);
        trainer.close();
        backend.close();
        features.close();
        if (failure != null) throw new AssertionError("the online trainer failed", failure);
    }

}
