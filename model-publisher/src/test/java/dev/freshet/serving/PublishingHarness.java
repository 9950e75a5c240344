package dev.freshet.serving;

import dev.freshet.kafka.EmbeddedKafka;
import dev.freshet.publisher.ModelPublisher;
import dev.freshet.publisher.PublisherConfig;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.ModelUpdate;
import dev.freshet.schemas.Topics;
import dev.freshet.schemas.serde.KafkaAvroSerde;
import dev.freshet.trainer.cpu.CpuBackend;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A CPU trainer publishing through a real {@link ModelPublisher} to a source topic, with the trainer's own
 * predictions recorded per published version, and a relay that copies (and tampers with) the records
 * onto the topic a subscriber reads.
 */
final class PublishingHarness implements AutoCloseable {
    final EmbeddedKafka kafka;
    final Path store;
    final String model;
    final Topics source;
    final Topics served;
    final CpuBackend trainer;
    final ModelPublisher publisher;
    final List<ClickEvent> sample = TestModels.events(300, 4242);
    /** The trainer's probabilities on {@link #sample} at each published version. */
    final Map<Long, float[]> expected = new ConcurrentHashMap<>();
    private long examples;
    private int seed = 100;

    PublishingHarness(EmbeddedKafka kafka, Path store, String name, int maxChunkBytes, double maxAucDrop) {
        this.kafka = kafka;
        this.store = store;
        this.model = name;
        this.source = Topics.withPrefix(name + "-src-");
        this.served = Topics.withPrefix(name + "-dst-");
        kafka.createTopic(source.modelUpdates(), 1);
        kafka.createTopic(served.modelUpdates(), 1);
        this.trainer = CpuBackend.create(TestModels.config(), 2);
        this.publisher = new ModelPublisher(publisherConfig(maxChunkBytes, maxAucDrop, "freshet-publisher"), TestModels.LAYOUT, Clock.systemUTC());
    }

    PublisherConfig publisherConfig(int maxChunkBytes, double maxAucDrop, String transactionalId) {
        return new PublisherConfig(kafka.bootstrapServers(), source, store, model, transactionalId, maxChunkBytes,
                Duration.ofMinutes(10), 50, maxAucDrop);
    }

    ServingConfig servingConfig() {
        return servingConfig(served);
    }

    ServingConfig servingConfig(Topics topics) {
        return new ServingConfig(kafka.bootstrapServers(), topics, store, model, TestModels.LAYOUT, "127.0.0.1", 0,
                Duration.ofMillis(20), 4096);
    }

    /** Trains a little and publishes a FULL; returns its version. */
    long full(double auc) {
        TestModels.train(trainer, TestModels.events(1024, seed++));
        examples += 1024;
        trainer.state().drainTouchedRows();
        publisher.full(trainer.state(), TestModels.progress(examples, auc));
        return record();
    }

    /** Trains a little and hands a DELTA to the publisher; returns the newest published version. */
    long delta(double auc) {
        TestModels.train(trainer, TestModels.events(512, seed++));
        examples += 512;
        publisher.delta(TestModels.cutDelta(trainer.state(), TestModels.progress(examples, auc)));
        return record();
    }

    private long record() {
        long v = publisher.metrics().lastVersion();
        expected.putIfAbsent(v, TestModels.trainerPredict(trainer, sample));
        return v;
    }

    /** Every committed record on the source topic so far, in order. */
    List<ModelUpdate> published() {
        Map<String, Object> p = kafka.clientProps();
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 8 << 20);
        List<ModelUpdate> out = new ArrayList<>();
        try (KafkaConsumer<String, ModelUpdate> c = new KafkaConsumer<>(p, new StringDeserializer(), KafkaAvroSerde.of(ModelUpdate.class))) {
            TopicPartition tp = new TopicPartition(source.modelUpdates(), 0);
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            long end = c.endOffsets(List.of(tp)).get(tp);
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (c.position(tp) < end && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, ModelUpdate> r : c.poll(Duration.ofMillis(100))) out.add(r.value());
            }
        }
        return out;
    }

    /** Writes {@code records} to the topic the subscriber reads, as they are. */
    void relay(List<ModelUpdate> records) {
        Map<String, Object> p = kafka.clientProps();
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 16 << 20);
        try (KafkaProducer<String, ModelUpdate> producer = new KafkaProducer<>(p, new StringSerializer(), KafkaAvroSerde.of(ModelUpdate.class))) {
            for (ModelUpdate r : records) producer.send(new ProducerRecord<>(served.modelUpdates(), model, r));
            producer.flush();
        }
    }

    /** Writes {@code records} to the topic the subscriber reads in one producer batch: one append, so one fetch returns all of them. */
    void relayAsOneBatch(List<ModelUpdate> records) {
        Map<String, Object> p = kafka.clientProps();
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 16 << 20);
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, 16 << 20);
        p.put(ProducerConfig.LINGER_MS_CONFIG, 60_000);
        try (KafkaProducer<String, ModelUpdate> producer = new KafkaProducer<>(p, new StringSerializer(), KafkaAvroSerde.of(ModelUpdate.class))) {
            for (ModelUpdate r : records) producer.send(new ProducerRecord<>(served.modelUpdates(), model, r));
            producer.flush();
        }
    }

    /** Checks each version the subscriber swaps in against the trainer's predictions for that version. */
    List<String> watch(ModelSubscriber subscriber) {
        List<String> wrong = java.util.Collections.synchronizedList(new ArrayList<>());
        subscriber.onSwap(m -> {
            // The harness records the trainer's numbers right after the hand-over returns; the swap may come first.
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            float[] want;
            while ((want = expected.get(m.version())) == null && System.nanoTime() < deadline) {
                try {
                    Thread.sleep(1);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            if (want == null) {
                wrong.add("version " + m.version() + " was never published");
                return;
            }
            float[] got = m.predict(sample).probabilities();
            for (int i = 0; i < want.length; i++) {
                if (Math.abs(want[i] - got[i]) > 1e-5) {
                    wrong.add("version " + m.version() + " event " + i + ": serving " + got[i] + ", trainer " + want[i]);
                    return;
                }
            }
        });
        return wrong;
    }

    static void await(BooleanSupplier condition, String what) {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "timed out waiting for " + what);
            Thread.onSpinWait();
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }

    @Override
    public void close() {
        publisher.close();
        trainer.close();
    }
}
