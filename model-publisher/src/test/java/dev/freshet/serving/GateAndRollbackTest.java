package dev.freshet.serving;

import dev.freshet.config.CommandLine;
import dev.freshet.kafka.junit.EmbeddedKafkaExtension;
import dev.freshet.publisher.ModelManifest;
import dev.freshet.publisher.ModelStore;
import dev.freshet.publisher.QualityGate;
import dev.freshet.publisher.RollbackCommand;
import dev.freshet.schemas.ModelUpdate;
import dev.freshet.schemas.UpdateKind;
import dev.freshet.trainer.EmbeddingTable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The quality gate and {@code freshet model rollback}, end to end on a real broker with a serving subscriber. */
class GateAndRollbackTest {
    @RegisterExtension
    static final EmbeddedKafkaExtension kafka = new EmbeddedKafkaExtension();

    @TempDir
    Path dir;

    @Test
    void gateBlocksNonFiniteAndDegradedVersionsAndLosesNoRow() {
        try (PublishingHarness h = new PublishingHarness(kafka.broker(), dir, "gate", 900_000, 0.02)) {
            assertEquals(1, h.full(0.75));
            ModelStore store = ModelStore.open(dir, "gate");

            // A NaN in one embedding row: neither a FULL nor a DELTA carrying it is published.
            EmbeddingTable c2 = h.trainer.state().tables().get(1);
            float[] saved = new float[8];
            c2.readRow(17, saved, 0);
            float[] poisoned = saved.clone();
            poisoned[3] = Float.NaN;
            c2.writeRow(17, poisoned, 0);
            h.trainer.state().markTouched(1, 17);
            h.publisher.full(h.trainer.state(), TestModels.progress(9999, 0.75));
            assertEquals(1, h.publisher.metrics().rejected(QualityGate.Reason.NON_FINITE));
            h.publisher.delta(TestModels.cutDelta(h.trainer.state(), TestModels.progress(9999, 0.75)));
            assertEquals(2, h.publisher.metrics().rejected(QualityGate.Reason.NON_FINITE));
            assertEquals(List.of(1L), store.versions());

            // The row is repaired; a degraded AUC is refused next.
            c2.writeRow(17, saved, 0);
            h.trainer.state().markTouched(1, 17);
            assertEquals(1, h.delta(0.70), "AUC 0.70 is 0.05 below 0.75, more than the allowed 0.02");
            assertEquals(1, h.publisher.metrics().rejected(QualityGate.Reason.AUC_DROP));
            assertEquals(List.of(1L), store.versions());

            // A good delta goes out and carries every row the refused ones touched.
            try (ModelSubscriber s = new ModelSubscriber(h.servingConfig(h.source), Clock.systemUTC())) {
                assertEquals(2, h.delta(0.76));
                PublishingHarness.await(() -> s.currentVersion() == 2, "version 2 served");
                assertEquals(0, s.resyncs());
                assertSameWeights(h, s.current());
            }
            List<ModelUpdate> records = h.published();
            assertEquals(List.of(1L, 2L), records.stream().map(ModelUpdate::getVersion).distinct().toList(), "nothing refused reached the topic");
        }
    }

    @Test
    void rollbackRepublishesAnOlderVersionAndServingFollows() throws Exception {
        try (PublishingHarness h = new PublishingHarness(kafka.broker(), dir, "rollback", 900_000, 0.02)) {
            assertEquals(1, h.full(0.75));
            try (ModelSubscriber s = new ModelSubscriber(h.servingConfig(h.source), Clock.systemUTC())) {
                List<String> wrong = h.watch(s);
                assertEquals(2, h.delta(0.76));
                assertEquals(3, h.delta(0.77));
                PublishingHarness.await(() -> s.currentVersion() == 3, "version 3 served");

                h.expected.put(4L, h.expected.get(1L));
                assertEquals(0, rollback(h, 1));
                PublishingHarness.await(() -> s.currentVersion() == 4, "rollback FULL 4 served");
                ModelManifest m4 = ModelStore.open(dir, "rollback").manifest(4);
                assertEquals(UpdateKind.FULL, m4.kind());
                assertEquals(1L, m4.rollbackOf());

                // Back to a DELTA version: rebuilt from FULL 1 + DELTA 2.
                h.expected.put(5L, h.expected.get(2L));
                assertEquals(0, rollback(h, 2));
                PublishingHarness.await(() -> s.currentVersion() == 5, "rollback FULL 5 served");
                assertEquals(List.of(), wrong);
                assertEquals(0, s.resyncs());

                // The trainer's next delta does not apply on the rollback: it is held until the trainer's next FULL.
                long before = h.publisher.metrics().deltasPublished();
                h.delta(0.78);
                assertEquals(before, h.publisher.metrics().deltasPublished());
                assertTrue(h.publisher.fullRequested());
                // Nor may a FULL worse than the version rolled back to (AUC 0.76) replace it.
                h.publisher.full(h.trainer.state(), TestModels.progress(99_999, 0.70));
                assertEquals(1, h.publisher.metrics().rejected(QualityGate.Reason.AUC_DROP));
                assertEquals(5, ModelStore.open(dir, "rollback").latestVersion().getAsLong());
                assertEquals(1, rollback(h, 999), "an unknown version is refused");
                RollbackCommand cmd = new RollbackCommand();
                var e = org.junit.jupiter.api.Assertions.assertThrows(dev.freshet.config.ConfigException.class,
                        () -> cmd.run(CommandLine.parse(new String[]{"--set", "model.name=" + h.model}, cmd.settings(), cmd.aliases(), Map.of())));
                assertTrue(e.getMessage().contains("--to"), e.getMessage());
            }
        }
    }

    private static int rollback(PublishingHarness h, long to) throws Exception {
        RollbackCommand cmd = new RollbackCommand();
        String[] args = {"--to", Long.toString(to), "--set", "kafka.bootstrap-servers=" + kafka.bootstrapServers(),
                "--set", "topics.prefix=" + h.model + "-src-", "--set", "model.store-dir=" + h.store, "--set", "model.name=" + h.model};
        return cmd.run(CommandLine.parse(args, cmd.settings(), cmd.aliases(), Map.of()));
    }

    private static void assertSameWeights(PublishingHarness h, ServingModel served) {
        var state = h.trainer.state();
        float[] want = new float[8];
        float[] got = new float[8];
        for (int t = 0; t < state.tables().size(); t++) {
            EmbeddingTable table = state.tables().get(t);
            for (int r = 0; r < table.spec().rows(); r++) {
                table.readRow(r, want, 0);
                served.readRow(t, r, got);
                assertArrayEquals(want, got, "table " + t + " row " + r);
            }
        }
        assertArrayEquals(state.dense().values(), served.denseWeights());
        assertFalse(Float.isNaN(got[0]));
    }
}
