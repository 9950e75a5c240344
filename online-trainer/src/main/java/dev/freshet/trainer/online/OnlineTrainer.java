package dev.freshet.trainer.online;

import dev.freshet.config.ConfigException;
import dev.freshet.features.Examples;
import dev.freshet.trainer.DenseParameters;
import dev.freshet.trainer.EmbeddingTable;
import dev.freshet.trainer.LayerShape;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelDelta;
import dev.freshet.trainer.ModelDivergedException;
import dev.freshet.trainer.ModelSink;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.StepResult;
import dev.freshet.trainer.TrainerBackend;
import dev.freshet.trainer.TrainingProgress;
import dev.freshet.trainer.checkpoint.CheckpointStore;
import dev.freshet.trainer.metrics.SlidingWindowMetrics;
import dev.freshet.trainer.online.internal.PartitionCursor;
import dev.freshet.trainer.online.internal.PartitionCursor.Position;
import dev.freshet.trainer.online.internal.RecordValidator;
import dev.freshet.trainer.retrain.LiveModel;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * The online training loop: poll {@code features} -> assemble a batch -> score it (progressive
 * validation) and train on it -> every few seconds hand the touched rows and dense weights to the
 * {@link ModelSink} -> every few minutes (or K examples) checkpoint model, optimizer state and the
 * trained position, then commit that position to Kafka.
 *
 * <p><b>No event skipped, none trained twice into a checkpoint.</b> The checkpoint, not Kafka, is the
 * record of what the model holds: it stores, per partition, the position of the first untrained example
 * (a record offset plus the examples of that record already trained, since a batch may end inside a
 * record). On start the newest complete checkpoint is loaded and each partition is read again from its
 * position; examples polled but not trained when a crash hit are simply read again.
 *
 * <p><b>A resumed run trains the same steps.</b> Batches hold {@code model.batch-size} consecutive
 * examples of one partition, cut at fixed points of that partition's example sequence; under
 * {@link TrainerConfig.StepOrder#ROUND_ROBIN} partitions take turns in partition order. So the steps,
 * and with a deterministic backend the weights, depend only on the data, never on how polls happened to
 * split it, and checkpoints are taken only between steps.
 *
 * <p><b>Partial batches, where asked for.</b> With {@code trainer.batch-linger} above 0, a partition
 * whose oldest untrained example was polled at least that long ago trains what it holds as a smaller
 * batch: the last examples of a stream that stops, or of a quiet partition, reach the model within the
 * linger instead of waiting for examples that may never come. Such a cut depends on timing, so the
 * guarantee above then holds only up to the first partial batch; no example is skipped or trained twice
 * either way, since positions count examples, not batches.
 *
 * <p><b>Lookahead.</b> Where the following step's batch is already polled, each step copies it (without
 * consuming it) and names it to {@link TrainerBackend#prefetch} before training its own batch, so a GPU
 * embedding cache can fetch the rows it misses meanwhile. That step trains the copy only if it is still
 * exactly the batch due (same partition, same start, no reset since); positions move only as batches are
 * trained, so steps and checkpoints are the same as without lookahead.
 *
 * <p><b>Guards.</b> Records are decoded and validated before the backend sees them; a bad one is
 * refused whole, logged and counted, and training goes on. A NaN or infinite loss or weight stops the
 * loop with a {@link ModelDivergedException} naming the step, the batch's offsets and the layer or table;
 * from that point nothing more is handed to the sink or checkpointed.
 *
 * <p>Time comes from the injected {@link Clock}; the loop never sleeps (it waits only inside Kafka's poll).
 * Single-threaded: {@link #run()} owns the consumer, backend and sink; other threads may call
 * {@link #status()}, {@link #stop()} and the {@link LiveModel} methods.
 */
public final class OnlineTrainer implements LiveModel, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(OnlineTrainer.class);
    /** Rejections logged one by one before the log thins out to every 1000th (all are counted). */
    private static final int REJECTIONS_LOGGED = 20;
    /** A partition whose untrained examples exceed this many batches is paused until training catches up. */
    private static final int PAUSE_AFTER_BATCHES = 4;

    static final String META_TOPIC = "trainer.topic";
    static final String META_LAYOUT = "trainer.layout-id";
    static final String META_STEP = "trainer.step";
    static final String META_EXAMPLES = "trainer.trained-examples";
    static final String META_MAX_EVENT_TIME = "trainer.max-event-time";
    static final String META_NEXT_PARTITION = "trainer.next-partition";
    static final String META_POSITION = "trainer.position.";
    static final String META_METRIC = "metric.";

    private final TrainerConfig config;
    private final ModelConfig model;
    private final long layoutId;
    private final TrainerBackend backend;
    private final ModelSink sink;
    private final Consumer<byte[], byte[]> consumer;
    private final Clock clock;
    private final CheckpointStore store;
    private final Function<ModelConfig, ? extends ModelState> allocator;
    private final TrainerListener listener;
    private final RecordValidator validator;
    private final SlidingWindowMetrics metrics;
    private final boolean lookaheadEnabled;
    /** The batch being trained; swapped with {@link #nextBatch} when a looked-ahead batch is trained. */
    private Examples batch;
    /** The next step's batch, peeked (not consumed) from the cursor due next and named to {@link TrainerBackend#prefetch}. */
    private Examples nextBatch;
    /** Where {@link #nextBatch} was peeked from, or null where it holds nothing the backend was told about. */
    private PartitionCursor peekedFrom;
    private PartitionCursor.Range peekedRange;
    private long peekedEpoch;
    private final float[] probabilities;
    private final String topic;

    private final TreeMap<Integer, PartitionCursor> cursors = new TreeMap<>();
    /** Where each partition resumes when (re)assigned: from the checkpoint, then from revoked cursors. */
    private final Map<Integer, Position> resumeAt = new HashMap<>();
    private final ConcurrentLinkedQueue<Runnable> betweenSteps = new ConcurrentLinkedQueue<>();
    private final Map<RecordValidator.Reason, AtomicLong> rejected = new EnumMap<>(RecordValidator.Reason.class);
    private final AtomicLong rejectedTotal = new AtomicLong();

    private int nextPartition;
    private volatile long step;
    private volatile long trainedExamples;
    private long maxEventTime = Long.MIN_VALUE;
    private long examplesSinceCheckpoint;
    private long stepAtLastDelta;
    private Instant lastCheckpointAt;
    private Instant lastDeltaAt;
    private Instant lastStatusAt;
    private long examplesAtLastStatus;
    private boolean started;
    private volatile boolean stopRequested;
    private volatile boolean stopped;
    private volatile boolean diverged;
    private volatile Instant checkpointTime;
    private volatile long checkpointStep = -1;
    private volatile Duration lastCheckpointDuration;
    private volatile long modelVersion = -1;
    private volatile String waitingFor = "";
    private volatile Map<TopicPartition, Long> positionSnapshot = Map.of();
    private volatile TrainerStatus status;
    private Thread trainingThread;

    private OnlineTrainer(Builder b) {
        this.config = b.config;
        this.model = b.model;
        this.layoutId = b.layoutId;
        this.backend = Objects.requireNonNull(b.backend, "backend");
        this.sink = Objects.requireNonNull(b.sink, "sink");
        this.consumer = Objects.requireNonNull(b.consumer, "consumer");
        this.clock = Objects.requireNonNull(b.clock, "clock");
        this.allocator = Objects.requireNonNull(b.allocator, "stateAllocator");
        this.listener = b.listener;
        if (!backend.config().equals(model)) {
            throw new ConfigException("the backend holds model " + backend.config() + " but the trainer was configured for " + model);
        }
        this.store = new CheckpointStore(config.checkpointDir(), config.checkpointsKept());
        this.validator = new RecordValidator(model, layoutId);
        this.metrics = new SlidingWindowMetrics(config.metricWindow());
        this.lookaheadEnabled = b.lookahead;
        this.batch = newBatch();
        this.nextBatch = newBatch();
        this.probabilities = new float[model.batchSize()];
        this.topic = config.topics().features();
        for (RecordValidator.Reason r : RecordValidator.Reason.values()) rejected.put(r, new AtomicLong());
    }

    /**
     * @param model    the model to train (its batch size is the step size)
     * @param layoutId the {@link dev.freshet.features.FeatureLayout#id()} of the features it accepts
     */
    public static Builder builder(TrainerConfig config, ModelConfig model, long layoutId) {
        return new Builder(config, model, layoutId);
    }

    public static final class Builder {
        private final TrainerConfig config;
        private final ModelConfig model;
        private final long layoutId;
        private TrainerBackend backend;
        private ModelSink sink;
        private Consumer<byte[], byte[]> consumer;
        private Clock clock = Clock.systemUTC();
        private Function<ModelConfig, ? extends ModelState> allocator;
        private TrainerListener listener = new TrainerListener() { };
        private boolean lookahead = true;

        private Builder(TrainerConfig config, ModelConfig model, long layoutId) {
            this.config = Objects.requireNonNull(config, "config");
            this.model = Objects.requireNonNull(model, "model");
            this.layoutId = layoutId;
        }

        /** The backend to train with; the trainer drives it but the caller closes it. */
        public Builder backend(TrainerBackend backend) {
            this.backend = backend;
            return this;
        }

        /** Where deltas and full models go; the caller closes it. */
        public Builder sink(ModelSink sink) {
            this.sink = sink;
            return this;
        }

        /** A consumer made from {@link #consumerProperties}; the trainer subscribes it and closes it. */
        public Builder consumer(Consumer<byte[], byte[]> consumer) {
            this.consumer = consumer;
            return this;
        }

        public Builder clock(Clock clock) {
            this.clock = clock;
            return this;
        }

        /** Allocates host memory for a checkpoint being loaded (e.g. {@code HostModelState::allocate}). */
        public Builder stateAllocator(Function<ModelConfig, ? extends ModelState> allocator) {
            this.allocator = allocator;
            return this;
        }

        public Builder listener(TrainerListener listener) {
            this.listener = Objects.requireNonNull(listener, "listener");
            return this;
        }

        /**
         * Whether each step names the following step's batch to {@link TrainerBackend#prefetch} (default
         * true); off, the loop trains exactly the same steps, only without the hint (for comparisons).
         */
        public Builder lookahead(boolean lookahead) {
            this.lookahead = lookahead;
            return this;
        }

        public OnlineTrainer build() {
            return new OnlineTrainer(this);
        }
    }

    /**
     * Consumer settings the loop relies on: manual commits (the checkpoint decides what is consumed),
     * read_committed (the feature job writes transactionally), byte values (decoded and validated here),
     * and a static group instance id (one trainer per group).
     */
    public static Map<String, Object> consumerProperties(TrainerConfig config) {
        Map<String, Object> p = new HashMap<>();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, config.groupId());
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, config.startPosition() == TrainerConfig.StartPosition.LATEST ? "latest" : "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "freshet-trainer-" + config.groupId());
        // Static membership: one trainer per group, so a trainer restarted after a crash takes its partitions
        // back at once instead of waiting out the dead instance's session timeout (45 s by default).
        p.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "freshet-trainer-" + config.groupId());
        return p;
    }

    // ---------------------------------------------------------------- lifecycle

    /**
     * Removes half-written checkpoints, loads the newest complete one into the backend (if any) and
     * subscribes. Called by {@link #run()} and {@link #runOnce()} when needed.
     */
    public void start() throws IOException {
        if (started) return;
        started = true;
        trainingThread = Thread.currentThread();
        int removed = store.cleanIncomplete();
        if (removed > 0) LOG.warn("removed {} incomplete checkpoint(s) from {} (a crash during a checkpoint write)", removed, store.root());
        Optional<CheckpointStore.Loaded> loaded = store.loadNewest(allocator);
        if (loaded.isPresent()) {
            CheckpointStore.Checkpoint c = loaded.get().checkpoint();
            try (ModelState state = loaded.get().state()) {
                restore(c, state);
            }
        } else {
            LOG.info("no checkpoint in {}: training a fresh model from the {} offsets of {}", store.root(),
                    config.startPosition().name().toLowerCase(java.util.Locale.ROOT), topic);
        }
        Instant now = clock.instant();
        lastCheckpointAt = now;
        lastDeltaAt = now;
        lastStatusAt = now;
        examplesAtLastStatus = trainedExamples;
        stepAtLastDelta = step;
        consumer.subscribe(List.of(topic), new Rebalance());
        publishStatus(now, Duration.ZERO);
    }

    private void restore(CheckpointStore.Checkpoint c, ModelState state) {
        Map<String, String> meta = c.metadata();
        if (!topic.equals(meta.get(META_TOPIC))) {
            throw new ConfigException("checkpoint " + c.dir() + " was trained on topic " + meta.get(META_TOPIC) + ", this trainer reads " + topic
                    + ". Fix: point " + TrainerConfig.CHECKPOINT_DIR.key() + " at this topic's checkpoints, or set topics.prefix as before.");
        }
        if (!Long.toString(layoutId).equals(meta.get(META_LAYOUT))) {
            throw new ConfigException("checkpoint " + c.dir() + " was trained on feature layout " + meta.get(META_LAYOUT) + ", this trainer's is "
                    + layoutId + ". Fix: restore the features.* settings it was trained with, or use a new " + TrainerConfig.CHECKPOINT_DIR.key() + ".");
        }
        if (!state.config().equals(model)) {
            throw new ConfigException("checkpoint " + c.dir() + " holds model " + state.config() + ", but the model settings give " + model
                    + ". Fix: restore the model.* settings it was trained with, or use a new " + TrainerConfig.CHECKPOINT_DIR.key() + ".");
        }
        long restoredStep = number(c, META_STEP);
        long restoredExamples = number(c, META_EXAMPLES);
        long restoredEventTime = number(c, META_MAX_EVENT_TIME);
        int restoredNext = (int) number(c, META_NEXT_PARTITION);
        Map<Integer, Position> positions = new HashMap<>();
        for (Map.Entry<String, String> e : meta.entrySet()) {
            if (e.getKey().startsWith(META_POSITION)) {
                try {
                    positions.put(Integer.parseInt(e.getKey().substring(META_POSITION.length())), Position.parse(e.getValue()));
                } catch (IllegalArgumentException bad) {
                    throw new ConfigException("checkpoint " + c.dir() + " has an unreadable position " + e.getKey() + " = " + e.getValue()
                            + ". Fix: move that checkpoint aside so the next older one is used.");
                }
            }
        }
        backend.load(state);
        step = restoredStep;
        trainedExamples = restoredExamples;
        maxEventTime = restoredEventTime;
        nextPartition = restoredNext;
        resumeAt.putAll(positions);
        checkpointStep = step;
        checkpointTime = clock.instant();
        modelVersion = step;
        LOG.info("resumed from checkpoint {} (step {}, {} examples, positions {})", c.dir().getFileName(), step, trainedExamples, resumeAt);
    }

    private static long number(CheckpointStore.Checkpoint c, String key) {
        String v = c.metadata().get(key);
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException | NullPointerException e) {
            throw new ConfigException("checkpoint " + c.dir() + " has " + key + " = " + v + ", not a number: it was not written by the online "
                    + "trainer. Fix: point " + TrainerConfig.CHECKPOINT_DIR.key() + " at the trainer's own checkpoints.");
        }
    }

    /** Runs until {@link #stop()}, {@code trainer.stop-after-examples}, or a divergence (thrown). */
    public void run() throws IOException {
        start();
        try {
            while (!stopRequested) {
                runOnce();
            }
            finish();
        } finally {
            stopped = true;
            failPendingTasks();
        }
    }

    /** One poll, then every step the polled data allows, with deltas, checkpoints and status as they fall due. */
    public void runOnce() throws IOException {
        start();
        runTasks();
        // Again right before polling, not only after the last poll: the steps since then may have drained a partition
        // paused then, and a poll with it still paused fetches nothing and waits out its whole timeout. In the pipeline
        // benchmark at 10,000 events/s most of the trainer's polls over 20 ms were such 200 ms waits with nothing
        // buffered and hundreds of records ready on the broker: the trainer fell behind waiting, not computing.
        pauseOrResume();
        ConsumerRecords<byte[], byte[]> records;
        try {
            records = consumer.poll(pollWait());
        } catch (WakeupException e) {
            return; // stop() was called
        }
        long polledAt = clock.millis();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            take(r, polledAt);
        }
        pauseOrResume();
        while (!stopRequested && trainNextStep()) {
            runTasks();
            Instant now = clock.instant();
            maybeDelta(now);
            maybeCheckpoint(now);
            if (config.stopAfterExamples() > 0 && trainedExamples >= config.stopAfterExamples()) {
                LOG.info("{} examples trained (trainer.stop-after-examples = {}): stopping", trainedExamples, config.stopAfterExamples());
                stopRequested = true;
            }
        }
        Instant now = clock.instant();
        maybeDelta(now);
        maybeCheckpoint(now);
        if (!Duration.between(lastStatusAt, now).minus(config.statusInterval()).isNegative()) {
            publishStatus(now, Duration.between(lastStatusAt, now));
        }
    }

    /** {@code trainer.poll-timeout}, or less where a partial batch's linger runs out sooner (no later than due). */
    private Duration pollWait() {
        Duration linger = config.batchLinger();
        if (linger.isZero()) return config.pollTimeout();
        long oldest = Long.MAX_VALUE;
        if (config.stepOrder() == TrainerConfig.StepOrder.ROUND_ROBIN) {
            // Only the partition with the turn may train; the others' lingering must not shorten the wait (a busy loop).
            if (!cursors.isEmpty()) oldest = turn(nextPartition).oldestPolledAt();
        } else {
            for (PartitionCursor c : cursors.values()) oldest = Math.min(oldest, c.oldestPolledAt());
        }
        if (oldest == Long.MAX_VALUE) return config.pollTimeout();
        long dueIn = Math.max(0, oldest + linger.toMillis() - clock.millis());
        return dueIn < config.pollTimeout().toMillis() ? Duration.ofMillis(dueIn) : config.pollTimeout();
    }

    /** Asks the loop to stop after the current step (it writes a final checkpoint); callable from any thread. */
    public void stop() {
        stopRequested = true;
        consumer.wakeup();
    }

    /** Writes a final checkpoint if anything was trained since the last one. */
    private void finish() throws IOException {
        if (!diverged && step != checkpointStep && step > 0) {
            checkpoint(clock.instant());
        }
    }

    /** Closes the consumer (not the backend or the sink, which the caller owns). */
    @Override
    public void close() {
        stopped = true;
        failPendingTasks();
        try {
            consumer.close(Duration.ofSeconds(5));
        } catch (KafkaException e) {
            LOG.warn("closing the consumer failed: {}", e.toString());
        }
    }

    // ---------------------------------------------------------------- input

    private void take(ConsumerRecord<byte[], byte[]> r, long polledAt) {
        PartitionCursor cursor = cursors.get(r.partition());
        if (cursor == null) return; // revoked meanwhile
        Examples examples;
        try {
            examples = validator.decode(r.value());
        } catch (RecordValidator.Rejected e) {
            if (cursor.skip(r.offset())) reject(r, e);
            return;
        }
        cursor.offer(r.offset(), examples, polledAt);
    }

    private void reject(ConsumerRecord<byte[], byte[]> r, RecordValidator.Rejected e) {
        long n = rejected.get(e.reason()).incrementAndGet();
        long total = rejectedTotal.incrementAndGet();
        if (total <= REJECTIONS_LOGGED || total % 1000 == 0) {
            LOG.warn("refused features record {}-{}@{} ({}, {} of this kind so far, {} in all): {}", r.topic(), r.partition(), r.offset(),
                    e.reason().name().toLowerCase(java.util.Locale.ROOT), n, total, e.getMessage());
        }
    }

    /** Rejected records by reason since start ("corrupt", "layout", "shape", "label", "dense_value", "row_range"). */
    public Map<String, Long> rejectedRecords() {
        Map<String, Long> out = new TreeMap<>();
        rejected.forEach((k, v) -> out.put(k.name().toLowerCase(java.util.Locale.ROOT), v.get()));
        return out;
    }

    /**
     * Keeps memory bounded: a partition far ahead of training (e.g. waiting for its round-robin turn) stops fetching.
     * Decided after taking polled records and again before each poll, from what each partition holds then.
     */
    private void pauseOrResume() {
        List<TopicPartition> pause = new ArrayList<>();
        List<TopicPartition> resume = new ArrayList<>();
        long limit = (long) PAUSE_AFTER_BATCHES * model.batchSize();
        for (PartitionCursor c : cursors.values()) {
            if (c.available() > limit) pause.add(c.partition());
            else resume.add(c.partition());
        }
        if (!pause.isEmpty()) consumer.pause(pause);
        if (!resume.isEmpty()) consumer.resume(resume);
    }

    // ---------------------------------------------------------------- training

    private PartitionCursor nextCursor() {
        PartitionCursor c = cursorFrom(nextPartition, lingeredBefore());
        if (c == null && !cursors.isEmpty()) {
            waitingFor = config.stepOrder() == TrainerConfig.StepOrder.ROUND_ROBIN
                    ? "partition " + turn(nextPartition).partition().partition() : "a full batch";
        }
        return c;
    }

    /**
     * The cursor whose batch the step order takes next when partition {@code from} has the turn; null if
     * none is ready. {@code lingeredBefore}: a cursor whose oldest example was polled before this (epoch
     * ms) is ready with a partial batch; {@link Long#MIN_VALUE} asks for full batches only.
     */
    private PartitionCursor cursorFrom(int from, long lingeredBefore) {
        if (cursors.isEmpty()) return null;
        PartitionCursor first = turn(from);
        if (config.stepOrder() == TrainerConfig.StepOrder.ROUND_ROBIN) {
            return ready(first, lingeredBefore) ? first : null;
        }
        Map.Entry<Integer, PartitionCursor> e = cursors.ceilingEntry(first.partition().partition());
        for (int i = 0; i < cursors.size(); i++) {
            if (ready(e.getValue(), lingeredBefore)) return e.getValue();
            e = cursors.higherEntry(e.getKey());
            if (e == null) e = cursors.firstEntry();
        }
        return null;
    }

    private boolean ready(PartitionCursor c, long lingeredBefore) {
        return c.available() >= model.batchSize() || c.available() > 0 && c.oldestPolledAt() < lingeredBefore;
    }

    /** See {@link #cursorFrom}: where a partial batch's examples must have been polled before, now; MIN_VALUE when lingering is off. */
    private long lingeredBefore() {
        Duration linger = config.batchLinger();
        return linger.isZero() ? Long.MIN_VALUE : clock.millis() - linger.toMillis() + 1;
    }

    /** The first assigned partition at or after {@code from}, wrapping around. Requires assigned partitions. */
    private PartitionCursor turn(int from) {
        Map.Entry<Integer, PartitionCursor> first = cursors.ceilingEntry(from);
        return (first == null ? cursors.firstEntry() : first).getValue();
    }

    private boolean trainNextStep() {
        PartitionCursor cursor = nextCursor();
        if (cursor == null) return false;
        waitingFor = "";
        PartitionCursor.Range range = takeBatch(cursor);
        lookAhead(cursor);
        int n = batch.count;
        StepResult result;
        try {
            result = backend.train(batch, probabilities);
        } catch (ModelDivergedException e) {
            throw diverged(e.getMessage(), range);
        }
        if (!Double.isFinite(result.loss())) {
            throw diverged("the backend reported loss " + result.loss(), range);
        }
        metrics.add(probabilities, batch.labels, n);
        for (int i = 0; i < n; i++) maxEventTime = Math.max(maxEventTime, batch.eventTimes[i]);
        trainedExamples += n;
        examplesSinceCheckpoint += n;
        nextPartition = cursor.partition().partition() + 1;
        long done = step++;
        positionSnapshot = positions();
        listener.afterStep(done, cursor.partition().partition(), range.from().toString(), range.to().toString(), result.loss());
        return true;
    }

    /**
     * Fills {@link #batch} with this step's examples of {@code cursor} and consumes them: the batch copied
     * by the previous step's lookahead where it is still exactly the one due (same cursor, no reset since,
     * same start), else a fresh copy. Either way the position advances by the same examples.
     */
    private PartitionCursor.Range takeBatch(PartitionCursor cursor) {
        // A full batch, or where the linger let the cursor through with fewer examples, all it holds.
        int n = Math.min(model.batchSize(), cursor.available());
        boolean due = peekedFrom == cursor && peekedEpoch == cursor.epoch() && peekedRange.from().equals(cursor.position())
                && nextBatch.count == n;
        if (due) {
            Examples trained = batch;
            batch = nextBatch;
            nextBatch = trained;
            peekedFrom = null;
            return cursor.advance(n);
        }
        if (peekedFrom != null) {
            // The backend was told that this buffer comes next and may still hold work keyed to it (a GPU
            // cache plan made for its contents): never hand it over again with other contents.
            nextBatch = newBatch();
            peekedFrom = null;
        }
        batch.clear();
        return cursor.take(n, batch);
    }

    /**
     * Once this step's batch is taken: if the following step's batch is already polled, copies it without
     * consuming it and names it to the backend, so that e.g. a GPU cache fetches its rows while this step
     * trains. Positions, and so checkpoints, are untouched; the next step reuses the copy only if it is
     * still the batch due ({@link #takeBatch}), so the steps are the same with or without lookahead.
     */
    private void lookAhead(PartitionCursor current) {
        if (!lookaheadEnabled || stopRequested) return;
        long stopAfter = config.stopAfterExamples();
        if (stopAfter > 0 && trainedExamples + batch.count >= stopAfter) return; // the loop stops after this step
        // Full batches only: a partial one may still grow before its turn, and then it is not the batch due.
        PartitionCursor next = cursorFrom(current.partition().partition() + 1, Long.MIN_VALUE);
        if (next == null) return;
        nextBatch.clear();
        peekedRange = next.peek(model.batchSize(), nextBatch);
        peekedEpoch = next.epoch();
        peekedFrom = next;
        backend.prefetch(nextBatch);
    }

    private Examples newBatch() {
        return new Examples(model.batchSize(), model.numDense(), model.numTables());
    }

    private ModelDivergedException diverged(String what, PartitionCursor.Range range) {
        diverged = true;
        stopRequested = true;
        String last = checkpointStep < 0 ? "none was written" : "it is step " + checkpointStep + " in " + store.root();
        return new ModelDivergedException("training diverged at step " + step + " on the batch of " + range + ": " + what
                + ". Nothing from this step on is published or checkpointed; the newest good checkpoint is where a restart resumes ("
                + last + "). Fix: lower model.dense-learning-rate (" + model.denseOptimizer().learningRate() + ") or model.embedding-learning-rate ("
                + model.embeddingOptimizer().learningRate() + "), or find the extreme inputs in those offsets, then restart.");
    }

    // ---------------------------------------------------------------- deltas

    private void maybeDelta(Instant now) {
        if (diverged || step == stepAtLastDelta) return;
        if (Duration.between(lastDeltaAt, now).compareTo(config.deltaInterval()) < 0) return;
        if (!sink.readyForDelta()) return; // due, but the sink is busy: train on, the touched rows wait for the next one
        publishDelta(now);
    }

    private void publishDelta(Instant now) {
        ModelState state = backend.state();
        int[][] touched = state.drainTouchedRows();
        int dim = model.embeddingDim();
        List<ModelDelta.TableRows> rows = new ArrayList<>();
        float[] row = new float[dim];
        for (int t = 0; t < touched.length; t++) {
            if (touched[t].length == 0) continue;
            EmbeddingTable table = state.tables().get(t);
            float[] values = new float[touched[t].length * dim];
            for (int i = 0; i < touched[t].length; i++) {
                table.readRow(touched[t][i], row, 0);
                for (int d = 0; d < dim; d++) {
                    if (!Float.isFinite(row[d])) {
                        throw divergedWeights("embedding table " + table.spec().name() + " row " + touched[t][i] + " holds " + row[d]);
                    }
                }
                System.arraycopy(row, 0, values, i * dim, dim);
            }
            rows.add(new ModelDelta.TableRows(t, touched[t], values));
        }
        checkDenseFinite(state.dense());
        ModelDelta delta = new ModelDelta(model, rows, state.dense().values().clone(), progress());
        sink.delta(delta);
        lastDeltaAt = now;
        stepAtLastDelta = step;
        modelVersion = step;
    }

    private void checkDenseFinite(DenseParameters dense) {
        float[] v = dense.values();
        for (LayerShape l : dense.layers()) {
            for (int i = l.weightOffset(); i < l.biasOffset() + l.out(); i++) {
                if (!Float.isFinite(v[i])) {
                    String what = i < l.biasOffset() ? "weight [" + (i - l.weightOffset()) / l.in() + ", " + (i - l.weightOffset()) % l.in() + "]"
                            : "bias [" + (i - l.biasOffset()) + "]";
                    throw divergedWeights("layer " + l.name() + " " + what + " is " + v[i]);
                }
            }
        }
    }

    private ModelDivergedException divergedWeights(String what) {
        diverged = true;
        stopRequested = true;
        return new ModelDivergedException("training diverged by step " + step + ": " + what
                + ". Nothing from this point on is published or checkpointed; a restart resumes from checkpoint step " + checkpointStep
                + ". Fix: lower model.dense-learning-rate (" + model.denseOptimizer().learningRate() + ") or model.embedding-learning-rate ("
                + model.embeddingOptimizer().learningRate() + ").");
    }

    // ---------------------------------------------------------------- checkpoints

    private void maybeCheckpoint(Instant now) throws IOException {
        if (diverged || step == checkpointStep || step == 0 && checkpointStep < 0) return;
        boolean byEvents = config.checkpointEvents() > 0 && examplesSinceCheckpoint >= config.checkpointEvents();
        boolean byTime = Duration.between(lastCheckpointAt, now).compareTo(config.checkpointInterval()) >= 0;
        if (byEvents || byTime) checkpoint(now);
    }

    /** Checkpoints now (between steps): model, optimizer state, positions; then commits the positions to Kafka. */
    private void checkpoint(Instant now) throws IOException {
        long startNanos = System.nanoTime();
        ModelState state = backend.state();
        checkDenseFinite(state.dense());
        Map<String, String> meta = new TreeMap<>();
        meta.put(META_TOPIC, topic);
        meta.put(META_LAYOUT, Long.toString(layoutId));
        meta.put(META_STEP, Long.toString(step));
        meta.put(META_EXAMPLES, Long.toString(trainedExamples));
        meta.put(META_MAX_EVENT_TIME, Long.toString(maxEventTime));
        meta.put(META_NEXT_PARTITION, Integer.toString(nextPartition));
        meta.put("trainer.created-at", now.toString());
        Map<Integer, Position> positions = new TreeMap<>(resumeAt);
        for (PartitionCursor c : cursors.values()) positions.put(c.partition().partition(), c.position());
        positions.forEach((p, pos) -> meta.put(META_POSITION + p, pos.toString()));
        metrics.snapshot().asMap().forEach((k, v) -> meta.put(META_METRIC + k, Double.toString(v)));
        long at = step;
        CheckpointStore.Checkpoint c = store.write(state, step, meta, file -> listener.checkpointFileWritten(at, file));
        listener.checkpointWritten(c);
        lastCheckpointAt = now;
        checkpointTime = now;
        checkpointStep = step;
        examplesSinceCheckpoint = 0;
        commit(positions);
        // How long training stood still for it: what a checkpoint costs freshness.
        lastCheckpointDuration = Duration.ofNanos(System.nanoTime() - startNanos);
        LOG.info("checkpoint {} written in {} ms (step {}, {} examples)", c.dir().getFileName(), lastCheckpointDuration.toMillis(),
                step, trainedExamples);
    }

    /** Commits the checkpointed positions; a failure is only logged, since the checkpoint is what resumes. */
    private void commit(Map<Integer, Position> positions) {
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        for (Map.Entry<Integer, Position> e : positions.entrySet()) {
            if (!cursors.containsKey(e.getKey())) continue;
            offsets.put(new TopicPartition(topic, e.getKey()),
                    new OffsetAndMetadata(e.getValue().offset(), "freshet step " + step + " skip " + e.getValue().skip()));
        }
        if (offsets.isEmpty()) return;
        try {
            try {
                consumer.commitSync(offsets);
            } catch (WakeupException e) {
                // stop() woke the consumer while the loop was training, not polling: the final checkpoint's commit is the
                // first blocking call to see it. Throwing spent the wake-up, so this commit goes through.
                consumer.commitSync(offsets);
            }
        } catch (KafkaException e) {
            LOG.warn("committing offsets {} after checkpoint step {} failed ({}); the checkpoint still holds them", offsets, step, e.toString());
        }
    }

    // ---------------------------------------------------------------- status

    private void publishStatus(Instant now, Duration elapsed) {
        SlidingWindowMetrics.Snapshot m = metrics.snapshot();
        double rate = elapsed.isZero() ? 0 : (trainedExamples - examplesAtLastStatus) / (elapsed.toNanos() / 1e9);
        Instant ckpt = checkpointTime;
        status = new TrainerStatus(step, trainedExamples, rate, m.auc(), m.logLoss(), m.size(),
                ckpt == null ? null : Duration.between(ckpt, now), checkpointStep, modelVersion, rejectedTotal.get(), waitingFor);
        lastStatusAt = now;
        examplesAtLastStatus = trainedExamples;
        listener.status(status);
    }

    /** The latest status (refreshed every {@code trainer.status-interval}); callable from any thread. */
    public TrainerStatus status() {
        return status;
    }

    /** Progressive metrics over the window right now. */
    public SlidingWindowMetrics.Snapshot metrics() {
        return metrics.snapshot();
    }

    public long step() {
        return step;
    }

    /** How long the newest checkpoint took, offset commit included (training waits for it); null before the first. */
    public Duration lastCheckpointDuration() {
        return lastCheckpointDuration;
    }

    public long trainedExamples() {
        return trainedExamples;
    }

    public boolean diverged() {
        return diverged;
    }

    private TrainingProgress progress() {
        Map<String, Long> offsets = new TreeMap<>();
        positions().forEach((tp, o) -> offsets.put(tp.toString(), o));
        return new TrainingProgress(offsets, trainedExamples, metrics.snapshot().asMap(), maxEventTime == Long.MIN_VALUE ? 0 : maxEventTime);
    }

    private Map<TopicPartition, Long> positions() {
        Map<TopicPartition, Long> out = new HashMap<>();
        resumeAt.forEach((p, pos) -> out.put(new TopicPartition(topic, p), pos.offset()));
        for (PartitionCursor c : cursors.values()) out.put(c.partition(), c.position().offset());
        return Map.copyOf(out);
    }

    // ---------------------------------------------------------------- LiveModel (retrain seam)

    @Override
    public ModelConfig config() {
        return model;
    }

    /**
     * Per partition, the record offset of the first untrained example. A batch may end inside a record;
     * that record's offset is reported (its remaining examples are not in the model yet).
     */
    @Override
    public Map<TopicPartition, Long> position() {
        return positionSnapshot;
    }

    @Override
    public Map<TopicPartition, Long> copyTo(TrainerBackend target) {
        return onTrainingThread(() -> {
            target.load(backend.state());
            return positions();
        });
    }

    @Override
    public void promote(ModelState candidate, TrainingProgress progress) {
        onTrainingThread(() -> {
            backend.load(candidate);
            for (Map.Entry<String, Long> e : progress.inputOffsets().entrySet()) {
                int dash = e.getKey().lastIndexOf('-');
                int p = Integer.parseInt(e.getKey().substring(dash + 1));
                Position pos = new Position(e.getValue(), 0);
                resumeAt.put(p, pos);
                PartitionCursor c = cursors.get(p);
                if (c != null) {
                    c.reset(pos);
                    consumer.seek(c.partition(), pos.offset());
                }
            }
            trainedExamples = progress.trainedExamples();
            positionSnapshot = positions();
            backend.state().drainTouchedRows();
            sink.full(backend.state(), progress);
            modelVersion = step;
            try {
                checkpoint(clock.instant());
            } catch (IOException e) {
                throw new UncheckedIOException("checkpoint after promotion failed: " + e.getMessage(), e);
            }
            return null;
        });
    }

    /**
     * Hands access counts of a table's rows (see {@link FrequencyHints}) to the backend between steps;
     * callable from any thread, never waits. Dropped once the trainer has stopped.
     */
    public void frequencyHints(int table, long[] rows, long[] counts) {
        if (stopped) return;
        betweenSteps.add(() -> backend.frequencyHints(table, rows, counts));
    }

    /** Whether the backend uses {@link #frequencyHints} (a GPU embedding cache does). */
    public boolean usesFrequencyHints() {
        return backend.usesFrequencyHints();
    }

    @Override
    public double progressiveAuc() {
        return metrics.snapshot().auc();
    }

    private <T> T onTrainingThread(java.util.function.Supplier<T> work) {
        if (Thread.currentThread() == trainingThread) return work.get();
        if (stopped) throw new IllegalStateException("the online trainer has stopped");
        CompletableFuture<T> f = new CompletableFuture<>();
        betweenSteps.add(() -> {
            try {
                f.complete(work.get());
            } catch (RuntimeException e) {
                f.completeExceptionally(e);
            }
        });
        if (stopped) failPendingTasks();
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    return f.get();
                } catch (InterruptedException e) {
                    interrupted = true; // the work may already be running on the training thread: wait for it
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof RuntimeException re) throw re;
                    throw new IllegalStateException(e.getCause());
                }
            }
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    private void runTasks() {
        Runnable r;
        while ((r = betweenSteps.poll()) != null) r.run();
    }

    private void failPendingTasks() {
        Runnable r;
        while ((r = betweenSteps.poll()) != null) {
            // Run them so their futures complete; with the loop stopped they fail fast or see the final state.
            try {
                r.run();
            } catch (RuntimeException e) {
                LOG.debug("task after stop failed: {}", e.toString());
            }
        }
    }

    // ---------------------------------------------------------------- assignment

    private final class Rebalance implements ConsumerRebalanceListener {
        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            for (TopicPartition tp : partitions) {
                Position pos = resumeAt.get(tp.partition());
                if (pos != null) {
                    consumer.seek(tp, pos.offset());
                } else {
                    if (config.startPosition() == TrainerConfig.StartPosition.LATEST) consumer.seekToEnd(List.of(tp));
                    else consumer.seekToBeginning(List.of(tp));
                    pos = new Position(consumer.position(tp), 0);
                }
                cursors.put(tp.partition(), new PartitionCursor(tp, pos));
                LOG.info("assigned {}: training from offset {} (example {})", tp, pos.offset(), pos.skip());
            }
            positionSnapshot = positions();
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            for (TopicPartition tp : partitions) {
                PartitionCursor c = cursors.remove(tp.partition());
                if (c != null) resumeAt.put(tp.partition(), c.position());
            }
        }
    }
}
