package dev.freshet.serving;

import dev.freshet.publisher.DeltaPayload;
import dev.freshet.publisher.ModelManifest;
import dev.freshet.publisher.ModelPublisher;
import dev.freshet.publisher.ModelStore;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.UpdateKind;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelDelta;
import dev.freshet.trainer.TrainingProgress;
import dev.freshet.trainer.cpu.CpuBackend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Serving (store files, Java embedding lookups, ONNX dense part in DJL's ONNX Runtime engine) against the
 * trainer's CPU backend for the same version, on 10,000 events: after a FULL, and after a chain of DELTAs
 * applied both in memory (the topic path) and rebuilt from the store (the resync path).
 */
class TrainServeParityTest {
    private static final int EVENTS = 10_000;
    private static final double TOLERANCE = 1e-5;

    @TempDir
    Path dir;

    @Test
    void servingMatchesTrainerAfterFullAndDeltaChain() {
        ModelConfig config = TestModels.config();
        List<ClickEvent> eval = TestModels.events(EVENTS, 99);
        ModelStore store = ModelStore.open(dir, "parity");
        try (CpuBackend trainer = CpuBackend.create(config, 2)) {
            TestModels.train(trainer, TestModels.events(4096, 1));
            trainer.state().drainTouchedRows();
            ModelManifest full = store.writeFull(header(store, 1, null, config, TestModels.progress(4096, 0.7)), trainer.state());

            ServingModel served = ServingModel.load(store, store.manifest(1), null);
            assertParity(trainer, served, eval, "FULL 1");

            long parent = 1;
            for (int v = 2; v <= 4; v++) {
                TestModels.train(trainer, TestModels.events(2048, v));
                TrainingProgress progress = TestModels.progress(4096 + 2048L * (v - 1), 0.7);
                ModelDelta delta = TestModels.cutDelta(trainer.state(), progress);
                assertTrue(delta.rowCount() > 0 && delta.rowCount() < config.totalRows(), "a delta touches some rows, not all: " + delta.rowCount());
                byte[] bytes = new DeltaPayload(v, parent, delta).encode();
                ModelManifest header = header(store, v, parent, config, progress);
                store.writeDelta(new ModelManifest(1, "parity", v, parent, UpdateKind.DELTA, header.createdAt(), config, header.layout(),
                        Map.of(), 0, 0, "", Map.of(), Map.of(), null), bytes, delta.dense());
                ServingModel next = served.apply(DeltaPayload.decode(bytes, config), v);
                served.release();
                served = next;
                parent = v;
            }
            assertEquals(4, served.version());
            assertParity(trainer, served, eval, "after DELTAs 2..4");

            List<ModelManifest> chain = store.latestChain();
            assertEquals(List.of(1L, 2L, 3L, 4L), chain.stream().map(ModelManifest::version).toList());
            ServingModel rebuilt = ServingModel.load(store, chain.get(0), null);
            for (ModelManifest d : chain.subList(1, chain.size())) {
                ServingModel next = rebuilt.apply(store.readDelta(d), d.createdAt());
                rebuilt.release();
                rebuilt = next;
            }
            assertParity(trainer, rebuilt, eval, "rebuilt from the store");
            assertEquals(full.version(), 1);
            served.release();
            rebuilt.release();
        }
    }

    static ModelManifest header(ModelStore store, long version, Long parent, ModelConfig config, TrainingProgress p) {
        return new ModelManifest(ModelManifest.FORMAT_VERSION, store.modelName(), version, parent, UpdateKind.FULL, 1_700_000_000_000L + version,
                config, ModelPublisher.layoutRef(TestModels.LAYOUT), p.inputOffsets(), p.trainedExamples(), p.maxEventTime(), "test",
                p.metrics(), Map.of(), null);
    }

    private static void assertParity(CpuBackend trainer, ServingModel served, List<ClickEvent> events, String what) {
        float[] expected = TestModels.trainerPredict(trainer, events);
        ServingModel.Prediction got = served.predict(events);
        double maxDiff = 0;
        double spread = 0;
        for (int i = 0; i < events.size(); i++) {
            assertEquals(null, got.errors()[i]);
            maxDiff = Math.max(maxDiff, Math.abs(expected[i] - got.probabilities()[i]));
            spread = Math.max(spread, Math.abs(expected[i] - expected[0]));
        }
        assertTrue(maxDiff <= TOLERANCE, what + ": max |trainer - serving| = " + maxDiff + " > " + TOLERANCE);
        assertTrue(spread > 0.01, what + ": predictions barely vary (" + spread + "); the comparison would prove little");
    }
}
