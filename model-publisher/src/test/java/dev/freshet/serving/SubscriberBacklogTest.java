package dev.freshet.serving;

import dev.freshet.kafka.junit.EmbeddedKafkaExtension;
import dev.freshet.schemas.ModelUpdate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A serving replica on a real KRaft broker that is still busy with one DELTA while the next three arrive
 * builds those three as one version, the newest, which scores exactly as the trainer did at that version.
 */
class SubscriberBacklogTest {
    @RegisterExtension
    static final EmbeddedKafkaExtension kafka = new EmbeddedKafkaExtension();

    @TempDir
    Path dir;

    @Test
    void deltasQueuedBehindABusyReplicaAreServedAsOneVersion() throws InterruptedException {
        try (PublishingHarness h = new PublishingHarness(kafka.broker(), dir, "backlog", 4096, 0.05)) {
            assertEquals(1, h.full(0.70));
            for (int i = 0; i < 4; i++) h.delta(0.70);
            assertEquals(5, h.publisher.metrics().lastVersion());
            List<ModelUpdate> records = h.published();
            assertTrue(records.stream().filter(r -> r.getVersion() == 4).count() >= 2, "DELTA 4 spans several chunks");
            try (ModelSubscriber s = new ModelSubscriber(h.servingConfig(), Clock.systemUTC())) {
                // The store already holds versions 2-5: start-up serves 5 from the FULL and its chain in one pass.
                assertEquals(5, s.currentVersion(), "start-up builds the FULL and its four DELTAs");
                assertScoresAsTrainer(h, s.current(), 5);
            }
        }
        try (PublishingHarness h = new PublishingHarness(kafka.broker(), dir.resolve("topic"), "backlog2", 4096, 0.05)) {
            assertEquals(1, h.full(0.70));
            try (ModelSubscriber s = new ModelSubscriber(h.servingConfig(), Clock.systemUTC())) {
                assertEquals(1, s.currentVersion());
                CountDownLatch busy = new CountDownLatch(1);
                CountDownLatch release = new CountDownLatch(1);
                List<Long> swapped = new CopyOnWriteArrayList<>();
                List<String> wrong = new CopyOnWriteArrayList<>();
                s.onSwap(m -> {
                    float[] got = m.predict(h.sample).probabilities();
                    float[] want = h.expected.get(m.version());
                    for (int i = 0; i < want.length; i++) {
                        if (Math.abs(want[i] - got[i]) > 1e-5) wrong.add("version " + m.version() + " event " + i);
                    }
                    if (m.version() == 2) {
                        // The replica is busy with version 2 while 3, 4 and 5 arrive.
                        busy.countDown();
                        try {
                            release.await(30, TimeUnit.SECONDS);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                    // Last: the swap is visible (currentVersion) before its listener has run.
                    swapped.add(m.version());
                });
                for (int i = 0; i < 4; i++) h.delta(0.70);
                List<ModelUpdate> records = h.published();
                h.relay(records.stream().filter(r -> r.getVersion() == 2).toList());
                assertTrue(busy.await(30, TimeUnit.SECONDS), "version 2 swapped in");
                h.relayAsOneBatch(records.stream().filter(r -> r.getVersion() >= 3 && r.getVersion() <= 5).toList());
                release.countDown();
                PublishingHarness.await(() -> swapped.contains(5L), "version 5 served and checked");
                assertEquals(List.of(2L, 5L), swapped, "3 and 4 were built into 5, never served on their own");
                assertEquals(4, s.deltasApplied());
                assertEquals(2, s.deltasMerged());
                assertEquals(List.of(), wrong, "every version served scores as the trainer did at that version");
                for (ModelSubscriber.Anomaly a : ModelSubscriber.Anomaly.values()) assertEquals(0, s.anomalies(a), a.name());
                assertScoresAsTrainer(h, s.current(), 5);
            }
        }
    }

    private static void assertScoresAsTrainer(PublishingHarness h, ServingModel m, long version) {
        assertEquals(version, m.version());
        float[] got = m.predict(h.sample).probabilities();
        float[] want = h.expected.get(version);
        for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 1e-5, "event " + i);
    }
}
