package dev.freshet.trainer.retrain.internal;

import dev.freshet.schemas.FeatureBatch;
import dev.freshet.schemas.serde.AvroCodec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;

/**
 * Reads {@link FeatureBatch} records of one topic back from Kafka between given offsets. Its own
 * consumer uses {@code assign} (no group, commits nothing), so it never disturbs the online
 * trainer's consumer group, and {@code read_committed}, so aborted feature-job transactions are
 * never trained on.
 *
 * <p>{@link #replay} hands records over in one deterministic order whatever the timing of the
 * fetches: a merge of the partitions by the first event time of each record (ties by partition),
 * so that the same window and seed give the same candidate model. A record that does not decode is
 * counted and skipped, never fatal: the feature job already routes bad events to its dead-letter
 * topic, so one here means a foreign or corrupt writer.
 */
public final class FeatureReplay implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(FeatureReplay.class);
    /** Records queued per partition before its fetching is paused; bounds memory while merging. */
    private static final int QUEUE_LIMIT = 256;
    private static final Duration POLL = Duration.ofMillis(100);
    private static final Duration API_TIMEOUT = Duration.ofSeconds(30);
    /** How long the held-out slice waits between looks at a log that does not hold enough yet. */
    private static final Duration WAIT_FOR_DATA = Duration.ofMillis(200);

    /** Receives each replayed record in merge order. */
    public interface Visitor {
        void accept(TopicPartition partition, long offset, FeatureBatch batch);
    }

    private final KafkaConsumer<byte[], byte[]> consumer;
    private final String topic;
    private final AvroCodec<FeatureBatch> codec = new AvroCodec<>(FeatureBatch.class);
    private long rejected;

    /** @param clientProps at least {@code bootstrap.servers}; deserializers, commits and isolation are set here */
    public FeatureReplay(Map<String, Object> clientProps, String topic) {
        Objects.requireNonNull(clientProps, "clientProps");
        this.topic = Objects.requireNonNull(topic, "topic");
        Map<String, Object> props = new HashMap<>(clientProps);
        props.remove(ConsumerConfig.GROUP_ID_CONFIG);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
        props.putIfAbsent(ConsumerConfig.CLIENT_ID_CONFIG, "freshet-retrain-replay");
        this.consumer = new KafkaConsumer<>(props);
    }

    public String topic() {
        return topic;
    }

    /** Every partition of the topic, in partition order. */
    public List<TopicPartition> partitions() {
        List<PartitionInfo> infos = consumer.partitionsFor(topic, API_TIMEOUT);
        if (infos == null || infos.isEmpty()) {
            throw new IllegalStateException("topic " + topic + " has no partitions or does not exist. Fix: create it (freshet creates "
                    + "its topics at start-up) or check topics.prefix.");
        }
        return infos.stream().map(i -> new TopicPartition(i.topic(), i.partition()))
                .sorted(Comparator.comparingInt(TopicPartition::partition)).toList();
    }

    /**
     * Per partition, the first offset whose record timestamp is at or after {@code timestampMs}, capped
     * at {@code end}; a partition with no such record before {@code end} contributes nothing ({@code end}).
     */
    public Map<TopicPartition, Long> offsetsAtOrAfter(long timestampMs, Map<TopicPartition, Long> end) {
        Map<TopicPartition, Long> query = new HashMap<>();
        end.keySet().forEach(tp -> query.put(tp, timestampMs));
        Map<TopicPartition, OffsetAndTimestamp> found = consumer.offsetsForTimes(query, API_TIMEOUT);
        Map<TopicPartition, Long> earliest = consumer.beginningOffsets(end.keySet(), API_TIMEOUT);
        Map<TopicPartition, Long> start = new TreeMap<>(Comparator.comparing(TopicPartition::toString));
        for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
            OffsetAndTimestamp at = found.get(e.getKey());
            long offset = at == null ? e.getValue() : Math.min(at.offset(), e.getValue());
            // Retention may have deleted the window's beginning: the replay then starts at what is left.
            offset = Math.max(offset, earliest.getOrDefault(e.getKey(), 0L));
            start.put(e.getKey(), Math.min(offset, e.getValue()));
        }
        return start;
    }

    /** Records that could not be decoded so far (skipped). */
    public long rejected() {
        return rejected;
    }

    /**
     * Hands every record in {@code [from, to)} of each partition to {@code visitor}, merged by event time.
     *
     * @throws CancellationException when {@code cancelled} turns true (checked between records)
     */
    public void replay(Map<TopicPartition, Long> from, Map<TopicPartition, Long> to, Visitor visitor, BooleanSupplier cancelled) {
        List<TopicPartition> parts = new ArrayList<>(from.keySet());
        parts.sort(Comparator.comparingInt(TopicPartition::partition));
        Map<TopicPartition, ArrayDeque<Decoded>> queues = new HashMap<>();
        List<TopicPartition> active = new ArrayList<>();
        for (TopicPartition tp : parts) {
            long end = Objects.requireNonNull(to.get(tp), () -> "no end offset for " + tp);
            if (from.get(tp) < end) {
                active.add(tp);
                queues.put(tp, new ArrayDeque<>());
            }
        }
        if (active.isEmpty()) {
            return;
        }
        assign(active);
        active.forEach(tp -> consumer.seek(tp, from.get(tp)));
        List<TopicPartition> paused = new ArrayList<>();
        try {
            while (!active.isEmpty()) {
                if (cancelled.getAsBoolean()) {
                    throw new CancellationException("retrain cancelled during the replay of " + topic);
                }
                // A partition can be merged only while every other active one has a record queued or is drained.
                boolean ready = true;
                for (TopicPartition tp : active) {
                    if (queues.get(tp).isEmpty() && consumer.position(tp, API_TIMEOUT) < to.get(tp)) {
                        ready = false;
                        break;
                    }
                }
                if (!ready) {
                    for (var r : consumer.poll(POLL)) {
                        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                        if (r.offset() < to.get(tp)) {
                            Decoded d = decode(tp, r);
                            if (d != null) queues.get(tp).add(d);
                        }
                    }
                    List<TopicPartition> full = active.stream().filter(tp -> queues.get(tp).size() >= QUEUE_LIMIT).toList();
                    consumer.resume(paused.stream().filter(tp -> !full.contains(tp)).toList());
                    paused.clear();
                    paused.addAll(full);
                    consumer.pause(full);
                    continue;
                }
                TopicPartition next = null;
                long nextTime = Long.MAX_VALUE;
                for (TopicPartition tp : active) {
                    Decoded head = queues.get(tp).peek();
                    if (head != null && head.firstEventTime < nextTime) {
                        next = tp;
                        nextTime = head.firstEventTime;
                    }
                }
                if (next == null) {
                    // Every active partition is drained up to its end (e.g. trailing transaction markers).
                    break;
                }
                Decoded d = queues.get(next).poll();
                visitor.accept(next, d.offset, d.batch);
                if (queues.get(next).isEmpty() && consumer.position(next, API_TIMEOUT) >= to.get(next)) {
                    active.remove(next);
                }
            }
        } finally {
            consumer.pause(consumer.assignment());
        }
    }

    /**
     * The newest slice of the log, which neither the candidate nor the copy of the online model has seen:
     * the first {@code examples} examples from {@code from} on, in the same event-time merge as
     * {@link #replay}, so that the slice is the same whenever its records are already in the log. Waits up
     * to {@code timeout} for enough records to arrive, then settles for what there is.
     *
     * @return the records taken, and per partition the offset after the last one taken
     */
    public Slice take(Map<TopicPartition, Long> from, int examples, Duration timeout, BooleanSupplier cancelled) {
        long deadline = System.nanoTime() + timeout.toNanos();
        assign(from.keySet());
        consumer.pause(from.keySet());
        while (true) {
            Map<TopicPartition, Long> end = consumer.endOffsets(from.keySet(), API_TIMEOUT);
            Map<TopicPartition, Long> next = new TreeMap<>(Comparator.comparing(TopicPartition::toString));
            next.putAll(from);
            List<FeatureBatch> taken = new ArrayList<>();
            long[] count = {0};
            try {
                replay(from, end, (tp, offset, batch) -> {
                    if (count[0] >= examples) throw Enough.INSTANCE;
                    taken.add(batch);
                    next.put(tp, offset + 1);
                    count[0] += batch.getCount();
                }, cancelled);
            } catch (Enough e) {
                // the slice is full; the rest of the log stays for the online trainer
            }
            if (count[0] >= examples || System.nanoTime() - deadline >= 0) {
                return new Slice(taken, next, count[0]);
            }
            if (cancelled.getAsBoolean()) {
                throw new CancellationException("retrain cancelled while waiting for the held-out slice");
            }
            // Too little has arrived: read the slice again from its start once more is there (it is small).
            try {
                Thread.sleep(WAIT_FOR_DATA.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CancellationException("retrain interrupted while waiting for the held-out slice");
            }
        }
    }

    /** Ends a replay early; carries no stack, it is control flow. */
    private static final class Enough extends RuntimeException {
        static final Enough INSTANCE = new Enough();

        private Enough() {
            super(null, null, false, false);
        }
    }

    /** @param end per partition, the offset after the slice */
    public record Slice(List<FeatureBatch> batches, Map<TopicPartition, Long> end, long examples) {
    }

    /**
     * Between reads the consumer stays assigned but paused (unassigning while fetches are in flight only
     * makes the client log warnings); a new read resumes what it needs.
     */
    private void assign(java.util.Collection<TopicPartition> partitions) {
        consumer.assign(partitions);
        consumer.resume(partitions);
    }

    private Decoded decode(TopicPartition tp, ConsumerRecord<byte[], byte[]> r) {
        try {
            if (r.value() == null) throw new IllegalArgumentException("null value");
            FeatureBatch b = codec.decode(r.value());
            long first = b.getCount() > 0 && b.getEventTimes().remaining() >= 8
                    ? b.getEventTimes().duplicate().order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong() : r.timestamp();
            return new Decoded(r.offset(), first, b);
        } catch (RuntimeException e) {
            rejected++;
            if (rejected <= 10 || Long.bitCount(rejected) == 1) {
                LOG.warn("retrain replay skips undecodable record {}@{} ({} skipped so far): {}", tp, r.offset(), rejected, e.toString());
            }
            return null;
        }
    }

    private record Decoded(long offset, long firstEventTime, FeatureBatch batch) {
    }

    @Override
    public void close() {
        consumer.close(org.apache.kafka.clients.consumer.CloseOptions.timeout(Duration.ofSeconds(5)));
    }
}
