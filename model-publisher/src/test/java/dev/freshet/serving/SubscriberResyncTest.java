package dev.freshet.serving;

import dev.freshet.kafka.junit.EmbeddedKafkaExtension;
import dev.freshet.publisher.ModelPublisher;
import dev.freshet.publisher.PublisherConfig;
import dev.freshet.schemas.Topics;
import dev.freshet.schemas.ModelUpdate;
import dev.freshet.schemas.UpdateKind;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A serving subscriber on a real KRaft broker, fed the records of a real publisher with one fault each:
 * a dropped DELTA, a duplicated one, reordered chunks, a corrupt chunk. Each must be detected, answered by
 * a resync from the store, and every version swapped in must score exactly as the trainer did at that
 * version (never a mixed or wrong model).
 */
class SubscriberResyncTest {
    @RegisterExtension
    static final EmbeddedKafkaExtension kafka = new EmbeddedKafkaExtension();

    @TempDir
    Path dir;

    private interface Fault {
        List<ModelUpdate> apply(List<ModelUpdate> records);
    }

    private void scenario(String name, ModelSubscriber.Anomaly expectedKind, Fault fault) {
        try (PublishingHarness h = new PublishingHarness(kafka.broker(), dir, name, 4096, 0.05)) {
            assertEquals(1, h.full(0.70));
            try (ModelSubscriber s = new ModelSubscriber(h.servingConfig(), Clock.systemUTC())) {
                assertEquals(1, s.currentVersion(), "start-up loads the newest FULL from the store");
                List<String> wrong = h.watch(s);
                for (int i = 0; i < 3; i++) h.delta(0.70);
                assertEquals(4, h.publisher.metrics().lastVersion());
                List<ModelUpdate> records = h.published();
                long v3chunks = records.stream().filter(r -> r.getVersion() == 3).count();
                assertTrue(v3chunks >= 2, "DELTA 3 must span several chunks to test their order, has " + v3chunks);
                h.relay(fault.apply(records));
                PublishingHarness.await(() -> s.currentVersion() == 4 && s.anomalies(expectedKind) >= 1, name + ": resync to version 4");
                assertEquals(1, s.anomalies(expectedKind), name + ": one " + expectedKind);
                for (ModelSubscriber.Anomaly other : ModelSubscriber.Anomaly.values()) {
                    if (other != expectedKind) assertEquals(0, s.anomalies(other), name + ": no " + other);
                }
                assertTrue(s.resyncs() >= 1, "a resync happened");
                assertEquals(List.of(), wrong, "every version served scores as the trainer did at that version");
                float[] got = s.predict(h.sample).probabilities();
                float[] want = h.expected.get(4L);
                for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 1e-5, "event " + i);
            }
        }
    }

    @Test
    void droppedDeltaIsAGap() {
        scenario("dropped", ModelSubscriber.Anomaly.GAP, records -> records.stream().filter(r -> r.getVersion() != 3).toList());
    }

    @Test
    void duplicatedDeltaIsDetected() {
        scenario("duplicated", ModelSubscriber.Anomaly.DUPLICATE, records -> {
            List<ModelUpdate> out = new ArrayList<>();
            for (ModelUpdate r : records) {
                if (r.getVersion() == 4 && r.getChunkIndex() == 0) {
                    out.addAll(records.stream().filter(x -> x.getVersion() == 2).toList());
                }
                out.add(r);
            }
            return out;
        });
    }

    @Test
    void reorderedChunksAreDetected() {
        scenario("reordered", ModelSubscriber.Anomaly.CHUNK_ORDER, records -> {
            List<ModelUpdate> out = new ArrayList<>(records);
            int first = -1;
            for (int i = 0; i < out.size(); i++) {
                if (out.get(i).getVersion() == 3 && out.get(i).getChunkIndex() == 0) first = i;
            }
            ModelUpdate c0 = out.get(first);
            out.set(first, out.get(first + 1));
            out.set(first + 1, c0);
            return out;
        });
    }

    @Test
    void corruptChunkIsDetected() {
        scenario("corrupt", ModelSubscriber.Anomaly.CORRUPT, records -> records.stream().map(r -> {
            if (r.getKind() != UpdateKind.DELTA || r.getVersion() != 3 || r.getChunkIndex() != 1) return r;
            ByteBuffer src = r.getPayload().duplicate();
            byte[] bytes = new byte[src.remaining()];
            src.get(bytes);
            bytes[bytes.length / 2] ^= 0x10;
            return ModelUpdate.newBuilder(r).setPayload(ByteBuffer.wrap(bytes)).build();
        }).toList());
    }

    @Test
    void requestsSeeOneWholeVersionWhileVersionsChange() throws Exception {
        try (PublishingHarness h = new PublishingHarness(kafka.broker(), dir, "swaps", 900_000, 0.05)) {
            h.full(0.7);
            try (ModelSubscriber s = new ModelSubscriber(h.servingConfig(h.source), Clock.systemUTC())) {
                List<String> wrong = java.util.Collections.synchronizedList(new ArrayList<>());
                java.util.Set<Long> seen = java.util.concurrent.ConcurrentHashMap.newKeySet();
                java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
                Thread reader = new Thread(() -> {
                    while (!stop.get()) {
                        ServingModel.Prediction p = s.predict(h.sample);
                        float[] want;
                        while ((want = h.expected.get(p.version())) == null && !stop.get()) Thread.yield();
                        if (want == null) return;
                        seen.add(p.version());
                        for (int i = 0; i < want.length; i++) {
                            if (Math.abs(want[i] - p.probabilities()[i]) > 1e-5) {
                                wrong.add("version " + p.version() + " event " + i + ": " + p.probabilities()[i] + " vs " + want[i]);
                                break;
                            }
                        }
                    }
                });
                reader.start();
                for (int i = 0; i < 5; i++) {
                    long v = h.delta(0.7);
                    PublishingHarness.await(() -> seen.contains(v), "a request scored by version " + v);
                }
                stop.set(true);
                reader.join(10_000);
                assertEquals(List.of(), wrong, "every request was scored by exactly one published version");
                assertTrue(seen.size() >= 5, "requests saw versions " + seen);
            }
        }
    }

    @Test
    void chunksFitTheTopicsMaxMessageBytes() {
        String name = "small-messages";
        Topics topics = Topics.withPrefix(name + "-");
        kafka.createTopic(topics.modelUpdates(), 1, java.util.Map.of("max.message.bytes", "65536"));
        PublisherConfig config = new PublisherConfig(kafka.bootstrapServers(), topics, dir, name, "freshet-publisher", 900_000,
                java.time.Duration.ofMinutes(10), 10, 0.05);
        try (ModelPublisher publisher = new ModelPublisher(config, TestModels.LAYOUT, Clock.systemUTC());
             dev.freshet.trainer.cpu.CpuBackend trainer = dev.freshet.trainer.cpu.CpuBackend.create(TestModels.config(), 1)) {
            assertEquals(65536 - dev.freshet.publisher.internal.UpdateRecords.RECORD_OVERHEAD_BYTES, publisher.chunkBytes());
            TestModels.train(trainer, TestModels.events(512, 1));
            trainer.state().drainTouchedRows();
            publisher.full(trainer.state(), TestModels.progress(512, 0.7));
            TestModels.train(trainer, TestModels.events(4096, 2));
            publisher.delta(TestModels.cutDelta(trainer.state(), TestModels.progress(4608, 0.7)));
            assertEquals(0, publisher.metrics().publishFailures(), "every chunk fitted the topic");
            assertEquals(2, publisher.metrics().lastVersion());
            assertTrue(publisher.metrics().chunksPublished() >= 2, "a delta of " + publisher.metrics().bytesPublished()
                    + " bytes needs several 48 KiB chunks, got " + publisher.metrics().chunksPublished());
        }
    }

    @Test
    void malformedRecordIsCountedAndServingGoesOn() {
        try (PublishingHarness h = new PublishingHarness(kafka.broker(), dir, "garbage", 900_000, 0.05)) {
            h.full(0.7);
            try (ModelSubscriber s = new ModelSubscriber(h.servingConfig(), Clock.systemUTC())) {
                assertEquals(2, h.delta(0.7));
                java.util.Map<String, Object> p = kafka.clientProps();
                try (var producer = new org.apache.kafka.clients.producer.KafkaProducer<>(p, new org.apache.kafka.common.serialization.StringSerializer(),
                        new org.apache.kafka.common.serialization.ByteArraySerializer())) {
                    producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>(h.served.modelUpdates(), h.model,
                            "not a model update".getBytes(java.nio.charset.StandardCharsets.UTF_8)));
                }
                h.relay(h.published());
                PublishingHarness.await(() -> s.currentVersion() == 2 && s.anomalies(ModelSubscriber.Anomaly.CORRUPT) == 1, "version 2 after a malformed record");
                assertTrue(s.running(), "the subscriber survives a malformed record");
                float[] want = h.expected.get(2L);
                float[] got = s.predict(h.sample).probabilities();
                for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 1e-5);
            }
        }
    }
}
