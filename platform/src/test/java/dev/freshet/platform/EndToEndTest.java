package dev.freshet.platform;

import dev.freshet.config.ConfigSource;
import dev.freshet.features.Examples;
import dev.freshet.features.FeatureLayout;
import dev.freshet.ingest.EventTimeSource;
import dev.freshet.ingest.SyntheticClicks;
import dev.freshet.ingest.SyntheticConfig;
import dev.freshet.publisher.ModelManifest;
import dev.freshet.publisher.ModelStore;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.FeatureBatch;
import dev.freshet.schemas.serde.AvroCodec;
import dev.freshet.serving.ServingModel;
import dev.freshet.trainer.cpu.CpuBackend;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The whole pipeline, every part real: N click events go through the in-process KRaft broker, the
 * Flink feature job on a MiniCluster, the CPU trainer, the publisher and the serving replica. The
 * counts must add up (every produced event is trained or dead-lettered, none lost, none twice), the
 * replica must answer with a version trained on all of them, and its predictions must match the
 * trainer's for the same examples.
 */
class EndToEndTest {
    // No multiple of the 256-example step: the last 184 examples are trained as a partial batch once the embedded
    // trainer.batch-linger has passed, so every example must still end up in the model.
    private static final int VALID = 3000;
    private static final int BAD = 7;                // events of an unknown feature layout: the feature job dead-letters them
    private static final float TOLERANCE = 1e-5f;    // DESIGN: serving matches the trainer within 1e-5

    @Test
    @Timeout(value = 170, unit = TimeUnit.SECONDS)
    void eventsAreFeaturisedTrainedPublishedAndServedWithNothingLost(@TempDir Path work) throws Exception {
        Map<String, String> settings = new HashMap<>();
        settings.put("freshet.work-dir", work.toString());
        settings.put("features.table-rows", "2000");
        settings.put("trainer.backend", "cpu");
        settings.put("trainer.cpu.threads", "1");
        settings.put("trainer.start-position", "earliest");
        settings.put("feature-stream.batch-size", "200"); // not a multiple of the step: batches cut inside records
        settings.put("model.batch-size", "256");
        settings.put("publisher.max-auc-drop", "1.0");    // a quality gate holding back early noisy versions would only slow this test
        try (EmbeddedFreshet f = EmbeddedFreshet.start(ConfigSource.of(settings))) {
            FeatureLayout layout = f.layout();
            SyntheticClicks clicks = new SyntheticClicks(SyntheticConfig.defaults().withSeed(7).withIdsPerTable(5000), layout,
                    EventTimeSource.wallClock(Clock.systemUTC()));
            List<ClickEvent> valid = new ArrayList<>();
            for (int i = 0; i < VALID; i++) {
                ClickEvent e = clicks.next();
                valid.add(e);
                f.producer().send(e);
                if (i % 1000 == 999) {
                    ClickEvent bad = ClickEvent.newBuilder(e).setEventId("bad-" + i).setLayoutId(layout.id() + 1).build();
                    f.producer().send(bad);
                }
            }
            for (int i = 0; i < BAD - VALID / 1000; i++) {
                f.producer().send(ClickEvent.newBuilder(valid.get(i)).setEventId("bad-tail-" + i).setLayoutId(12345L).build());
            }
            f.producer().flush();
            long produced = f.producer().acked();
            assertEquals(VALID + BAD, produced, "broker acknowledged every event");
            assertEquals(0, f.producer().failed());

            await("every event trained or dead-lettered", 120, () -> f.trained() + f.deadLettered() >= produced || f.trainerFailure() != null);
            assertNull(f.trainerFailure(), () -> "trainer failed: " + f.trainerFailure());
            // Nothing lost, nothing twice: the produced events split exactly into trained and dead-lettered.
            assertEquals(VALID, f.trained(), "trained examples");
            assertEquals(BAD, f.deadLettered(), "dead-lettered events");
            assertEquals(produced, f.trained() + f.deadLettered());
            assertEquals(VALID, f.featureTap().examples(), "examples committed to features");

            // The replica serves a version that has trained on every example.
            ModelStore store = ModelStore.open(work.resolve("models"), "dlrm");
            await("the replica serves a version trained on all examples", 60, () -> {
                long v = f.serving().currentVersion();
                return v >= 0 && store.manifest(v).trainedExamples() == VALID;
            });
            ModelManifest served = store.manifest(f.serving().currentVersion());
            assertEquals(VALID, served.trainedExamples());
            long nextOffset = served.inputOffsets().get(f.topics().features() + "-0");
            assertEquals(f.featureTap().featureRecords(), nextOffsetRecords(f, nextOffset), "the version covers every features record");

            // Serving answers as the trainer does: same examples, the trainer's weights copied between two steps.
            Examples examples = readFeatures(f);
            assertEquals(VALID, examples.count);
            try (CpuBackend trainerCopy = CpuBackend.create(f.trainer().config(), 1)) {
                f.trainer().copyTo(trainerCopy);
                int n = 512;
                Examples last = tail(examples, n);
                float[] byTrainer = new float[n];
                trainerCopy.predict(last, byTrainer);
                ServingModel model = f.serving().current();
                float[] byServing = model.predict(last);
                for (int i = 0; i < n; i++) {
                    assertEquals(byTrainer[i], byServing[i], TOLERANCE, "example " + i + " of the last " + n);
                }
                // Raw events through the replica's own encoder give the same scores as the feature job's examples.
                Map<String, Integer> index = new HashMap<>();
                for (int i = 0; i < last.eventIds.size(); i++) index.put(last.eventIds.get(i), i);
                List<ClickEvent> raw = valid.stream().filter(e -> index.containsKey(e.getEventId())).toList();
                assertEquals(n, raw.size(), "feature records carry the event ids");
                ServingModel.Prediction p = f.serving().predict(raw);
                for (int i = 0; i < raw.size(); i++) {
                    assertNull(p.errors()[i]);
                    assertEquals(byTrainer[index.get(raw.get(i).getEventId())], p.probabilities()[i], TOLERANCE, raw.get(i).getEventId());
                }
            }

            // Freshness was measured for the served examples (production time to the replica's swap).
            assertTrue(f.freshness().matched() >= VALID, "matched " + f.freshness().matched());
        }
    }

    /** How many features records lie before {@code nextOffset}, transaction markers excluded. */
    private static long nextOffsetRecords(EmbeddedFreshet f, long nextOffset) {
        return readRecords(f).stream().filter(r -> r.offset() < nextOffset).count();
    }

    private static List<ConsumerRecord<byte[], byte[]>> readRecords(EmbeddedFreshet f) {
        Map<String, Object> p = new HashMap<>(f.kafka().clientProps());
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            TopicPartition tp = new TopicPartition(f.topics().features(), 0);
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            long end = c.endOffsets(List.of(tp)).get(tp);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (c.position(tp) < end && System.nanoTime() < deadline) {
                c.poll(Duration.ofMillis(200)).forEach(out::add);
            }
        }
        return out;
    }

    private static Examples readFeatures(EmbeddedFreshet f) {
        FeatureLayout layout = f.layout();
        Examples ex = new Examples(VALID, layout.numDense(), layout.numCategorical());
        AvroCodec<FeatureBatch> codec = new AvroCodec<>(FeatureBatch.class);
        for (ConsumerRecord<byte[], byte[]> r : readRecords(f)) {
            ex.append(codec.decode(r.value()));
        }
        return ex;
    }

    private static Examples tail(Examples all, int n) {
        Examples t = new Examples(n, all.numDense, all.numSparse);
        int from = all.count - n;
        System.arraycopy(all.labels, from, t.labels, 0, n);
        System.arraycopy(all.dense, from * all.numDense, t.dense, 0, n * all.numDense);
        System.arraycopy(all.sparse, from * all.numSparse, t.sparse, 0, n * all.numSparse);
        System.arraycopy(all.eventTimes, from, t.eventTimes, 0, n);
        if (all.eventIds.size() == all.count) t.eventIds.addAll(all.eventIds.subList(from, all.count));
        t.layoutId = all.layoutId;
        t.count = n;
        return t;
    }

    private static void await(String what, int seconds, BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) fail("timed out after " + seconds + " s waiting until " + what);
            Thread.sleep(100);
        }
    }
}
