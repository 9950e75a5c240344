package dev.freshet.trainer.retrain.internal;

import dev.freshet.features.Examples;
import dev.freshet.kafka.junit.EmbeddedKafkaExtension;
import dev.freshet.schemas.serde.AvroCodec;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import dev.freshet.schemas.FeatureBatch;
import dev.freshet.trainer.retrain.SyntheticFeatures;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CancellationException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reading {@code features} back from a real broker: window by timestamp, deterministic merge, held-out slice. */
class FeatureReplayTest {
    @RegisterExtension
    static final EmbeddedKafkaExtension kafka = new EmbeddedKafkaExtension();

    private record Seen(TopicPartition tp, long offset, long firstTime, int count) {
    }

    private static List<Seen> replayAll(FeatureReplay replay, Map<TopicPartition, Long> from, Map<TopicPartition, Long> to) {
        List<Seen> seen = new ArrayList<>();
        replay.replay(from, to, (tp, offset, b) -> seen.add(new Seen(tp, offset, firstTime(b), b.getCount())), () -> false);
        return seen;
    }

    private static long firstTime(FeatureBatch b) {
        return b.getEventTimes().duplicate().order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
    }

    @Test
    void replaysEveryRecordOnceInEventTimeOrderSkippingGarbage() {
        String topic = "replay-merge";
        kafka.createTopic(topic, 3, SyntheticFeatures.KEEP_FOREVER);
        try (var features = new SyntheticFeatures(kafka.clientProps(), topic, 3, 50, 1, 0, 1000);
             FeatureReplay replay = new FeatureReplay(kafka.clientProps(), topic)) {
            features.produce(3000); // 60 records, 20 per partition
            features.produceGarbage(1);
            features.produce(600);
            List<TopicPartition> parts = replay.partitions();
            assertEquals(3, parts.size());
            Map<TopicPartition, Long> zero = new HashMap<>();
            Map<TopicPartition, Long> end = new HashMap<>();
            for (TopicPartition tp : parts) {
                zero.put(tp, 0L);
                end.put(tp, tp.partition() == 1 ? 25L : 24L);
            }
            List<Seen> seen = replayAll(replay, zero, end);
            assertEquals(72, seen.size(), "every record but the garbage one, once");
            assertEquals(1, replay.rejected());
            Set<String> distinct = new HashSet<>();
            for (int i = 0; i < seen.size(); i++) {
                assertTrue(distinct.add(seen.get(i).tp() + "@" + seen.get(i).offset()));
                if (i > 0) assertTrue(seen.get(i - 1).firstTime() <= seen.get(i).firstTime(), "merged by event time at " + i);
            }
            assertEquals(seen, replayAll(replay, zero, end), "the same order on every pass");
        }
    }

    @Test
    void replaysOnlyCommittedTransactionsAndStopsAtTheMarkers() throws Exception {
        // The feature job writes `features` in transactions: aborted batches must never be trained on, and the
        // commit markers (which take offsets of their own) must not keep the replay waiting.
        String topic = "replay-txn";
        kafka.createTopic(topic, 1, SyntheticFeatures.KEEP_FOREVER);
        Map<String, Object> props = kafka.clientProps();
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "replay-txn-writer");
        AvroCodec<FeatureBatch> codec = new AvroCodec<>(FeatureBatch.class);
        int[] counts = {3, 5, 7};
        boolean[] commit = {true, false, true};
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props);
             FeatureReplay replay = new FeatureReplay(kafka.clientProps(), topic)) {
            producer.initTransactions();
            for (int t = 0; t < counts.length; t++) {
                producer.beginTransaction();
                for (int i = 0; i < counts[t]; i++) {
                    Examples e = new Examples(1, 1, 1);
                    e.count = 1;
                    e.labels[0] = (byte) (commit[t] ? 1 : 0); // label 0 marks the aborted ones
                    e.eventTimes[0] = 1_000L * t + i;
                    producer.send(new ProducerRecord<>(topic, 0, null, codec.encode(e.toRecord())));
                }
                producer.flush(); // the aborted batches too must reach the log, where read_committed has to skip them
                if (commit[t]) producer.commitTransaction();
                else producer.abortTransaction();
            }
            TopicPartition tp = new TopicPartition(topic, 0);
            long end;
            try (var consumer = new org.apache.kafka.clients.consumer.KafkaConsumer<byte[], byte[]>(Map.of(
                    "bootstrap.servers", kafka.bootstrapServers(), "isolation.level", "read_committed",
                    "key.deserializer", ByteArrayDeserializer.class.getName(), "value.deserializer", ByteArrayDeserializer.class.getName()))) {
                end = consumer.endOffsets(List.of(tp)).get(tp);
            }
            assertEquals(18, end, "15 records and 3 transaction markers");
            List<Byte> labels = new ArrayList<>();
            replay.replay(Map.of(tp, 0L), Map.of(tp, end), (p, o, b) -> labels.add(b.getLabels().get(0)), () -> false);
            assertEquals(10, labels.size(), "the committed records only");
            assertTrue(labels.stream().allMatch(l -> l == 1), "no record of the aborted transaction");
            assertEquals(10, replay.take(Map.of(tp, 0L), 100, Duration.ofMillis(300), () -> false).examples());
        }
    }

    @Test
    void windowStartsAtTheFirstRecordStampedAtOrAfterTheTime() {
        String topic = "replay-window";
        kafka.createTopic(topic, 2, SyntheticFeatures.KEEP_FOREVER);
        try (var features = new SyntheticFeatures(kafka.clientProps(), topic, 2, 100, 2, 0, 1000);
             FeatureReplay replay = new FeatureReplay(kafka.clientProps(), topic)) {
            features.produce(4000); // records k = 0..39, record k on partition k % 2 at offset k / 2, first event 100 k
            Map<TopicPartition, Long> end = Map.of(new TopicPartition(topic, 0), 20L, new TopicPartition(topic, 1), 20L);
            // First event of record 25 (partition 1, offset 12): partition 0's next record is 26 at offset 13.
            Map<TopicPartition, Long> start = replay.offsetsAtOrAfter(SyntheticFeatures.eventTime(2500).toEpochMilli(), end);
            assertEquals(13L, start.get(new TopicPartition(topic, 0)));
            assertEquals(12L, start.get(new TopicPartition(topic, 1)));
            // A window that starts after the end of the log holds nothing.
            Map<TopicPartition, Long> none = replay.offsetsAtOrAfter(SyntheticFeatures.eventTime(1_000_000).toEpochMilli(), end);
            assertEquals(end, none);
            // Capped by the online position even where later records exist.
            Map<TopicPartition, Long> capped = replay.offsetsAtOrAfter(SyntheticFeatures.eventTime(2500).toEpochMilli(),
                    Map.of(new TopicPartition(topic, 0), 5L, new TopicPartition(topic, 1), 20L));
            assertEquals(5L, capped.get(new TopicPartition(topic, 0)));
        }
    }

    @Test
    void takeCollectsTheNewestSliceAndGivesUpAfterTheTimeout() {
        String topic = "replay-take";
        kafka.createTopic(topic, 2, SyntheticFeatures.KEEP_FOREVER);
        try (var features = new SyntheticFeatures(kafka.clientProps(), topic, 2, 100, 3, 0, 1000);
             FeatureReplay replay = new FeatureReplay(kafka.clientProps(), topic)) {
            features.produce(2000); // 10 records per partition
            Map<TopicPartition, Long> from = Map.of(new TopicPartition(topic, 0), 6L, new TopicPartition(topic, 1), 6L);
            FeatureReplay.Slice slice = replay.take(from, 500, Duration.ofSeconds(20), () -> false);
            assertEquals(500, slice.examples());
            long taken = 0;
            for (var e : slice.end().entrySet()) taken += e.getValue() - from.get(e.getKey());
            assertEquals(5, taken, "five records of 100 examples past the cut");
            FeatureReplay.Slice rest = replay.take(from, 5000, Duration.ofMillis(500), () -> false);
            assertEquals(800, rest.examples(), "only what exists arrives before the timeout");
            assertThrows(CancellationException.class, () -> replay.take(from, 5000, Duration.ofSeconds(20), () -> true));
        }
    }
}
