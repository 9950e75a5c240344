package dev.freshet.trainer.online;

import dev.freshet.schemas.ConsumerThreads;
import dev.freshet.schemas.IdFrequencyStats;
import dev.freshet.schemas.serde.AvroCodec;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.TableSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Feeds the feature job's ID heavy hitters ({@link IdFrequencyStats} on {@code feature-stats}) to the
 * trainer's backend, whose GPU embedding cache adds them to the access counts it keeps from the stream
 * itself (admission and eviction by frequency, as Colossal-AI's frequency-aware cache seeds its counts
 * from dataset statistics). Runs its own consumer on its own thread; the hints reach the backend between
 * training steps ({@link OnlineTrainer#frequencyHints}). A record that does not decode, names a table the
 * model does not have, or whose rows and counts differ in length is skipped and counted, never fatal.
 */
public final class FrequencyHints implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(FrequencyHints.class);

    /** Where hints go: {@link OnlineTrainer#frequencyHints}. */
    @FunctionalInterface
    public interface Target {
        void frequencyHints(int table, long[] rows, long[] counts);
    }

    private final KafkaConsumer<byte[], byte[]> consumer;
    private final String topic;
    private final List<TableSpec> tables;
    private final Target target;
    private final AvroCodec<IdFrequencyStats> codec = new AvroCodec<>(IdFrequencyStats.class);
    private final AtomicLong applied = new AtomicLong();
    private final AtomicLong rejected = new AtomicLong();
    private final Thread thread;
    private volatile boolean running = true;

    private FrequencyHints(Map<String, Object> consumerProperties, String topic, ModelConfig model, Target target) {
        this.consumer = new KafkaConsumer<>(consumerProperties, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        this.topic = topic;
        this.tables = model.tables();
        this.target = target;
        this.thread = new Thread(this::run, "freshet-frequency-hints");
        this.thread.setDaemon(true);
    }

    /**
     * Starts reading {@code topic} with the trainer's consumer settings ({@link OnlineTrainer#consumerProperties}),
     * in a group of its own ({@code <trainer group>-frequency-hints}) that commits as it goes, from the
     * earliest window the topic still holds on a first start.
     */
    public static FrequencyHints start(Map<String, Object> trainerConsumerProperties, String topic, ModelConfig model, Target target) {
        Map<String, Object> p = new HashMap<>(trainerConsumerProperties);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, p.get(ConsumerConfig.GROUP_ID_CONFIG) + "-frequency-hints");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, true);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.remove(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG);
        p.remove(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG);
        FrequencyHints h = new FrequencyHints(p, topic, model, target);
        h.thread.start();
        return h;
    }

    private void run() {
        try {
            consumer.subscribe(List.of(topic));
            while (running) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) take(r);
            }
        } catch (WakeupException e) {
            // close() was called
        } catch (RuntimeException e) {
            LOG.warn("frequency hints from {} stopped: {} (training goes on; the cache counts its own lookups)", topic, e.toString());
        } finally {
            consumer.close(Duration.ofSeconds(5));
        }
    }

    private void take(ConsumerRecord<byte[], byte[]> r) {
        IdFrequencyStats s;
        try {
            if (r.value() == null) throw new IllegalArgumentException("no value");
            s = codec.decode(r.value());
        } catch (RuntimeException e) {
            skip(r, "does not decode as IdFrequencyStats: " + e.getMessage());
            return;
        }
        int t = s.getTableIndex();
        if (t < 0 || t >= tables.size() || !tables.get(t).name().equals(s.getTable().toString())) {
            skip(r, "table " + s.getTable() + " at index " + t + " is not the model's (" + tables.size() + " tables)");
            return;
        }
        List<Long> rows = s.getRows(), counts = s.getCounts();
        if (rows.size() != counts.size()) {
            skip(r, rows.size() + " rows but " + counts.size() + " counts");
            return;
        }
        long[] rowArray = new long[rows.size()], countArray = new long[rows.size()];
        for (int i = 0; i < rowArray.length; i++) {
            rowArray[i] = rows.get(i);
            countArray[i] = counts.get(i);
        }
        target.frequencyHints(t, rowArray, countArray);
        applied.incrementAndGet();
    }

    private void skip(ConsumerRecord<byte[], byte[]> r, String why) {
        rejected.incrementAndGet();
        LOG.warn("skipped frequency hints at {}-{}@{}: {}", r.topic(), r.partition(), r.offset(), why);
    }

    /** Records handed to the target so far. */
    public long applied() {
        return applied.get();
    }

    /** Records skipped so far (undecodable, unknown table, rows and counts of different lengths). */
    public long rejected() {
        return rejected.get();
    }

    @Override
    public void close() {
        running = false;
        ConsumerThreads.wakeAndJoin(consumer, thread);
    }
}
