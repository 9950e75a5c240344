package dev.freshet.trainer.retrain;

import dev.freshet.features.Examples;
import dev.freshet.features.FeatureLayout;
import dev.freshet.features.FeatureTransform;
import dev.freshet.ingest.EventTimeSource;
import dev.freshet.ingest.SyntheticClicks;
import dev.freshet.ingest.SyntheticConfig;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.FeatureBatch;
import dev.freshet.schemas.serde.AvroCodec;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The synthetic click stream (ingest's {@link SyntheticClicks}: hidden ground truth, optional shift)
 * turned into {@code features} records the way the feature job turns clicks into examples
 * ({@link FeatureTransform}), and produced to a topic: records of {@code perRecord} examples, spread
 * over the partitions in turn, each stamped with its first event time.
 */
public final class SyntheticFeatures implements AutoCloseable {
    public static final FeatureLayout LAYOUT = FeatureLayout.parse(
            "label:label,c0:categorical:4000,c1:categorical:4000,c2:categorical:4000,c3:categorical:4000,"
                    + "c4:categorical:4000,d0:numeric,d1:count,d2:numeric", 4000);
    public static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
    /**
     * Topic configs for a synthetic log: its events are stamped from {@link #T0} on, which the broker's
     * time-based retention (7 days by default, first checked 30 s after start) would otherwise delete.
     */
    public static final Map<String, String> KEEP_FOREVER = Map.of("retention.ms", "-1");
    static final Duration STEP = Duration.ofMillis(10);

    private final SyntheticClicks clicks;
    private final FeatureTransform transform = new FeatureTransform(LAYOUT);
    private final KafkaProducer<byte[], byte[]> producer;
    private final AvroCodec<FeatureBatch> codec = new AvroCodec<>(FeatureBatch.class);
    private final String topic;
    private final int partitions;
    private final int perRecord;
    private long records;
    private final long[] nextOffset;
    /** Per "topic-partition@offset", the event ids of the record there. */
    private final Map<String, List<String>> idsAt = new java.util.concurrent.ConcurrentHashMap<>();

    public SyntheticFeatures(Map<String, Object> clientProps, String topic, int partitions, int perRecord, long seed, long shiftAfter,
                      long idsPerTable) {
        this(clientProps, topic, partitions, perRecord,
                SyntheticConfig.defaults().withSeed(seed).withShiftAfter(shiftAfter).withIdsPerTable(idsPerTable));
    }

    public SyntheticFeatures(Map<String, Object> clientProps, String topic, int partitions, int perRecord, SyntheticConfig config) {
        this.clicks = new SyntheticClicks(config, LAYOUT, EventTimeSource.sequence(T0, STEP));
        Map<String, Object> props = new HashMap<>(clientProps);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        this.producer = new KafkaProducer<>(props);
        this.topic = topic;
        this.partitions = partitions;
        this.perRecord = perRecord;
        this.nextOffset = new long[partitions];
    }

    /** The event time of event {@code ordinal}: the clock a test gives the retrain to place its window. */
    public static Instant eventTime(long ordinal) {
        return T0.plus(STEP.multipliedBy(ordinal));
    }

    /** Events generated so far. */
    public long events() {
        return clicks.count();
    }

    public SyntheticClicks clicks() {
        return clicks;
    }

    /** Produces the next {@code events} events (a multiple of the record size) and waits until the broker has them. */
    public void produce(long events) {
        Examples batch = new Examples(perRecord, LAYOUT.numDense(), LAYOUT.numCategorical());
        for (long done = 0; done < events; done += perRecord) {
            batch.clear();
            batch.layoutId = LAYOUT.id();
            for (int i = 0; i < perRecord; i++) {
                add(batch, clicks.next());
            }
            FeatureBatch record = batch.toRecord();
            int partition = (int) (records++ % partitions);
            // The topic is this producer's alone and the producer idempotent: the offset is known before the send,
            // so a consumer can never see a record whose ids are not recorded yet.
            idsAt.put(topic + "-" + partition + "@" + nextOffset[partition]++, List.copyOf(batch.eventIds));
            producer.send(new ProducerRecord<>(topic, partition, batch.eventTimes[0], null, codec.encode(record)));
        }
        producer.flush();
    }

    /** Produces a record that is not a FeatureBatch (a foreign writer), to partition {@code partition}. */
    public void produceGarbage(int partition) {
        nextOffset[partition]++;
        producer.send(new ProducerRecord<>(topic, partition, eventTime(clicks.count()).toEpochMilli(), null,
                new byte[]{1, 2, 3, 4, 5}));
        producer.flush();
    }

    /** The event ids of the record at {@code partition}/{@code offset}, or null for none (e.g. garbage). */
    public List<String> idsAt(org.apache.kafka.common.TopicPartition partition, long offset) {
        return idsAt.get(partition + "@" + offset);
    }

    private void add(Examples b, ClickEvent e) {
        int i = b.count;
        b.labels[i] = (byte) (int) e.getLabel();
        List<Double> dense = e.getDense();
        for (int d = 0; d < b.numDense; d++) {
            Double raw = dense.get(d);
            b.dense[i * b.numDense + d] = transform.dense(d, raw == null ? Double.NaN : raw);
        }
        List<String> cat = e.getCategorical();
        for (int t = 0; t < b.numSparse; t++) {
            b.sparse[i * b.numSparse + t] = transform.row(t, cat.get(t));
        }
        b.eventTimes[i] = e.getEventTime().toEpochMilli();
        b.eventIds.add(e.getEventId());
        b.count++;
    }

    @Override
    public void close() {
        producer.close(Duration.ofSeconds(5));
    }
}
