package dev.freshet.featurestream;

import dev.freshet.features.FeatureLayout;
import dev.freshet.featurestream.internal.ClickDeserializationSchema;
import dev.freshet.featurestream.internal.DeadLetter;
import dev.freshet.featurestream.internal.DeadLetterCounter;
import dev.freshet.featurestream.internal.DeadLetterRecords;
import dev.freshet.featurestream.internal.DeadLetterRouter;
import dev.freshet.featurestream.internal.Deduplicator;
import dev.freshet.featurestream.internal.ExampleBatcher;
import dev.freshet.featurestream.internal.FeatureRow;
import dev.freshet.featurestream.internal.IdStatsMerger;
import dev.freshet.featurestream.internal.IdStatsPreAggregator;
import dev.freshet.featurestream.internal.ImpressionClickJoin;
import dev.freshet.featurestream.internal.RecordTypes;
import dev.freshet.featurestream.internal.ValueRecords;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.BasicTypeInfo;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.ExternalizedCheckpointRetention;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.DataStreamUtils;
import org.apache.flink.streaming.api.datastream.KeyedStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.types.Either;
import org.apache.flink.util.OutputTag;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * The feature job: {@code clicks} to training examples on {@code features}, exactly once.
 *
 * <pre>
 * KafkaSource(clicks) --decode+validate+transform, watermarks per partition--> rows | dead letters
 *   rows --keyBy(event id hash)--> dedup --LABELED---------------------------------+--> examples
 *        (at parallelism 1 no keyBy: dedup is chained to the source, see dedup())
 *                                       --IMPRESSION/CLICK --keyBy(impression)--> join --+
 *   examples (per branch) --> batcher (FeatureBatch, batchSize/linger, flushed before each barrier) --> KafkaSink(features)
 *   examples (per branch) --> per-subtask sketches --keyBy(table)--> merge per window --> KafkaSink(feature-stats)
 *   dead letters (decode/validation, late and orphan clicks) --count--> KafkaSink(features.dlq)
 * </pre>
 * Every sink is transactional (EXACTLY_ONCE) and commits when a checkpoint completes; source offsets
 * and all operator state are in the same checkpoint, so a restart neither loses nor repeats an example
 * on {@code features} as read with {@code isolation.level=read_committed}.
 */
public final class FeatureJob {
    public static final String NAME = "freshet-features";

    private FeatureJob() {
    }

    /** What {@link #transform} produces, before the sinks: encoded FeatureBatch and IdFrequencyStats records, and dead letters. */
    public record Outputs(DataStream<byte[]> batches, DataStream<byte[]> stats, DataStream<DeadLetter> deadLetters) {
    }

    /** Adds the whole job (Kafka source to Kafka sinks) to {@code env} and sets checkpointing and parallelism. */
    public static void build(StreamExecutionEnvironment env, FeatureStreamConfig config) {
        build(env, config, UnaryOperator.identity());
    }

    /**
     * As {@link #build(StreamExecutionEnvironment, FeatureStreamConfig)}, with {@code tap} applied to
     * the decoded rows before dedup: a hook for instrumentation and for tests that inject a failure.
     */
    public static void build(StreamExecutionEnvironment env, FeatureStreamConfig config, UnaryOperator<DataStream<FeatureRow>> tap) {
        Objects.requireNonNull(env, "env");
        Objects.requireNonNull(config, "config");
        configure(env, config);
        DataStream<Either<FeatureRow, DeadLetter>> decoded = env.fromSource(source(config), watermarks(config), "clicks")
                .uid("clicks-source");
        Outputs out = transform(decoded, config, tap);
        out.batches().sinkTo(valueSink(config, config.topics().features(), "features")).name("features").uid("features-sink");
        out.stats().sinkTo(valueSink(config, config.topics().featureStats(), "stats")).name("feature-stats").uid("stats-sink");
        out.deadLetters().sinkTo(deadLetterSink(config)).name("features.dlq").uid("dlq-sink");
    }

    /** Checkpointing (exactly once), parallelism, key groups and object reuse on {@code env}. */
    public static void configure(StreamExecutionEnvironment env, FeatureStreamConfig config) {
        env.setParallelism(config.parallelism());
        env.setMaxParallelism(FeatureStreamConfig.MAX_PARALLELISM);
        env.enableCheckpointing(config.checkpointInterval().toMillis(), CheckpointingMode.EXACTLY_ONCE);
        // Operators never modify or keep a record they emitted, so Flink may pass objects along chains without copies.
        env.getConfig().enableObjectReuse();
    }

    /**
     * The broker-free core: decoded click records (rows or dead letters, with timestamps and watermarks)
     * to outputs. Tests feed it from memory; {@link #build} feeds it from Kafka.
     */
    public static Outputs transform(DataStream<Either<FeatureRow, DeadLetter>> decoded, FeatureStreamConfig config,
                                    UnaryOperator<DataStream<FeatureRow>> tap) {
        FeatureLayout layout = config.layout();
        SingleOutputStreamOperator<FeatureRow> routed = decoded.process(new DeadLetterRouter(), RecordTypes.ROW)
                .name("route dead letters").uid("route");
        DataStream<DeadLetter> deadLetters = routed.getSideOutput(DeadLetterRouter.DEAD_LETTERS);
        DataStream<FeatureRow> rows = tap.apply(routed);

        if (!config.dedupWindow().isZero()) {
            rows = dedup(rows, config);
        }
        DataStream<FeatureRow> labeled = rows.filter(r -> r.kind == FeatureRow.LABELED).name("labeled");
        OutputTag<DeadLetter> joinLetters = new OutputTag<>("join-dead-letters", RecordTypes.DEAD_LETTER);
        SingleOutputStreamOperator<FeatureRow> joined = rows.filter(r -> r.kind != FeatureRow.LABELED).name("impressions and clicks")
                .keyBy(FeatureRow::joinKey, BasicTypeInfo.STRING_TYPE_INFO)
                .process(new ImpressionClickJoin(config.labelWindow().toMillis(), joinLetters), RecordTypes.ROW)
                .name("impression/click join").uid("join");
        deadLetters = deadLetters.union(joined.getSideOutput(joinLetters));

        // Batching and sketching run on each branch, chained to it, rather than after a union: a union
        // cannot chain, and the labelled path (most traffic) would pay one more network hop per example.
        List<String> tables = layout.categorical().stream().map(FeatureLayout.Column::name).toList();
        DataStream<byte[]> batches = batch(labeled, config, "labeled").union(batch(joined, config, "joined"));
        DataStream<byte[]> stats = sketch(labeled, config, "labeled").union(sketch(joined, config, "joined"))
                .keyBy(p -> p.table, BasicTypeInfo.INT_TYPE_INFO)
                .process(new IdStatsMerger(tables, config.topK()), RecordTypes.BYTES)
                .name("merge id stats").uid("merge-stats");
        DataStream<DeadLetter> counted = deadLetters.map(new DeadLetterCounter(), RecordTypes.DEAD_LETTER)
                .name("count dead letters").uid("count-dlq");
        return new Outputs(batches, stats, counted);
    }

    /**
     * The {@link Deduplicator}, keyed by {@link Deduplicator#bucket}. Where the rows come from one subtask, that
     * subtask's dedup holds every key group, so the rows are already partitioned as keyBy would partition them:
     * they are reinterpreted as keyed and the dedup chains to the source. A keyBy there would serialize every row,
     * hand it to another task thread through network buffers and deserialize it, the largest part of what the dedup
     * cost the pipeline benchmark on 2 cores (README, pipeline). With more subtasks the keyBy stays: copies of
     * an event may arrive in different Kafka partitions, read by different subtasks. Both forms are one operator
     * (uid, keyed state, key groups), so a checkpoint of either restores into the other.
     */
    private static DataStream<FeatureRow> dedup(DataStream<FeatureRow> rows, FeatureStreamConfig config) {
        boolean oneSubtask = rows.getParallelism() == 1;
        KeyedStream<FeatureRow, Integer> keyed = oneSubtask
                ? DataStreamUtils.reinterpretAsKeyedStream(rows, Deduplicator::bucket, BasicTypeInfo.INT_TYPE_INFO)
                : rows.keyBy(Deduplicator::bucket, BasicTypeInfo.INT_TYPE_INFO);
        SingleOutputStreamOperator<FeatureRow> deduped = keyed.process(new Deduplicator(config.dedupWindow().toMillis()), RecordTypes.ROW)
                .name("dedup").uid("dedup");
        // A reinterpreted stream is forwarded: the dedup must have its input's one subtask, whatever the default.
        return oneSubtask ? deduped.setParallelism(1) : deduped;
    }

    private static DataStream<byte[]> batch(DataStream<FeatureRow> examples, FeatureStreamConfig config, String branch) {
        FeatureLayout layout = config.layout();
        return examples.transform("batch " + branch + " examples", RecordTypes.BYTES,
                new ExampleBatcher(layout.id(), layout.numDense(), layout.numCategorical(), config.batchSize(), config.linger().toMillis()))
                .uid("batcher-" + branch);
    }

    private static DataStream<dev.freshet.featurestream.internal.PartialIdStats> sketch(DataStream<FeatureRow> examples,
                                                                                      FeatureStreamConfig config, String branch) {
        return examples.transform("sketch " + branch + " ids", RecordTypes.PARTIAL_STATS,
                        new IdStatsPreAggregator(config.statsWindow().toMillis(), config.layout().numCategorical(), config.topK()))
                .uid("sketch-" + branch);
    }

    /**
     * Event time from the ClickEvent; watermarks trail the largest time seen by the allowed lateness,
     * per Kafka partition (the source applies the strategy per split). Dead letters carry no time.
     */
    public static WatermarkStrategy<Either<FeatureRow, DeadLetter>> watermarks(FeatureStreamConfig config) {
        return WatermarkStrategy.<Either<FeatureRow, DeadLetter>>forBoundedOutOfOrderness(config.allowedLateness())
                .withTimestampAssigner((e, kafkaTime) -> e.isLeft() ? e.left().eventTime : Long.MIN_VALUE)
                .withIdleness(config.idleTimeout());
    }

    public static KafkaSource<Either<FeatureRow, DeadLetter>> source(FeatureStreamConfig config) {
        return KafkaSource.<Either<FeatureRow, DeadLetter>>builder()
                .setBootstrapServers(config.bootstrapServers())
                .setTopics(config.topics().clicks())
                .setGroupId(config.groupId())
                .setClientIdPrefix(config.transactionalIdPrefix() + "-source")
                // Resume from the group's committed offsets (committed when checkpoints complete); a new group starts at the beginning.
                .setStartingOffsets(OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST))
                .setDeserializer(new ClickDeserializationSchema(config.layout()))
                .setProperty("isolation.level", "read_committed")
                .setProperty("partition.discovery.interval.ms", "30000")
                .build();
    }

    private static KafkaSink<byte[]> valueSink(FeatureStreamConfig config, String topic, String role) {
        return transactional(KafkaSink.<byte[]>builder(), config, role).setRecordSerializer(new ValueRecords(topic)).build();
    }

    private static KafkaSink<DeadLetter> deadLetterSink(FeatureStreamConfig config) {
        KafkaRecordSerializationSchema<DeadLetter> serializer = new DeadLetterRecords(config.topics().featuresDlq());
        return transactional(KafkaSink.<DeadLetter>builder(), config, "dlq").setRecordSerializer(serializer).build();
    }

    private static <T> org.apache.flink.connector.kafka.sink.KafkaSinkBuilder<T> transactional(
            org.apache.flink.connector.kafka.sink.KafkaSinkBuilder<T> builder, FeatureStreamConfig config, String role) {
        return builder.setBootstrapServers(config.bootstrapServers())
                .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
                .setTransactionalIdPrefix(config.transactionalIdPrefix() + "-" + role)
                .setProperty("transaction.timeout.ms", Long.toString(FeatureStreamConfig.TRANSACTION_TIMEOUT.toMillis()))
                .setProperty("linger.ms", "5")
                .setProperty("max.request.size", Integer.toString(2 * 1024 * 1024));
    }

    /**
     * Flink settings for running the job embedded: temp files, checkpoints and savepoints under the work
     * directory (the last checkpoint kept when the job is cancelled), heap state, and a fixed-delay restart
     * strategy so that a failure restarts the job from its last checkpoint. On a cluster the cluster's own
     * configuration decides these.
     */
    public static Configuration flinkConfiguration(FeatureStreamConfig config) {
        Path work = config.workDir().toAbsolutePath().normalize();
        Configuration conf = new Configuration();
        conf.set(CoreOptions.TMP_DIRS, work.resolve("flink-tmp").toString());
        conf.set(StateBackendOptions.STATE_BACKEND, "hashmap");
        conf.set(CheckpointingOptions.CHECKPOINT_STORAGE, "filesystem");
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, work.resolve("flink-checkpoints").toUri().toString());
        conf.set(CheckpointingOptions.SAVEPOINT_DIRECTORY, work.resolve("flink-savepoints").toUri().toString());
        // a job cancelled instead of stopped with a savepoint leaves its last checkpoint to resume from
        conf.set(CheckpointingOptions.EXTERNALIZED_CHECKPOINT_RETENTION, ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 10);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofSeconds(1));
        return conf;
    }
}
