package dev.freshet.serving;

import dev.freshet.publisher.DeltaPayload;
import dev.freshet.publisher.ModelManifest;
import dev.freshet.publisher.ModelPublisher;
import dev.freshet.publisher.ModelStore;
import dev.freshet.schemas.UpdateKind;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelDelta;
import dev.freshet.trainer.TrainingProgress;
import dev.freshet.trainer.cpu.CpuBackend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A store written by the first release (format 1 everywhere), kept in test resources: it must keep
 * loading, to the same numbers, as long as format 1 is supported (STYLE 6). Regenerate only on purpose:
 * {@code -Dfreshet.regenerate-store-fixture=<module dir>/src/test/resources/store-v1}.
 */
class StoredFixtureTest {
    private static final String MODEL = "fixture";
    /** Serving's probabilities for {@code TestModels.events(5, 77)} at version 2, recorded when the fixture was written. */
    private static final float[] EXPECTED_V2 = {0.7205776f, 0.76984024f, 0.721336f, 0.79309374f, 0.7161511f};

    @Test
    void formatOneStoreStillLoads() throws Exception {
        Path root = Path.of(StoredFixtureTest.class.getResource("/store-v1").toURI());
        ModelStore store = ModelStore.open(root, MODEL);
        List<ModelManifest> chain = store.latestChain();
        assertEquals(List.of(1L, 2L), chain.stream().map(ModelManifest::version).toList());
        chain.forEach(store::verify);
        ServingModel full = ServingModel.load(store, chain.get(0), null);
        ServingModel v2 = full.apply(store.readDelta(chain.get(1)), chain.get(1).createdAt());
        full.release();
        float[] p = v2.predict(TestModels.events(5, 77)).probabilities();
        v2.release();
        assertEquals(EXPECTED_V2.length, p.length);
        for (int i = 0; i < EXPECTED_V2.length; i++) assertEquals(EXPECTED_V2[i], p[i], 1e-6, "event " + i);
    }

    @Test
    @EnabledIfSystemProperty(named = "freshet.regenerate-store-fixture", matches = ".+")
    void regenerate() {
        Path root = Path.of(System.getProperty("freshet.regenerate-store-fixture"));
        ModelStore store = ModelStore.open(root, MODEL);
        ModelConfig config = TestModels.config();
        try (CpuBackend trainer = CpuBackend.create(config, 1)) {
            TestModels.train(trainer, TestModels.events(1024, 1));
            trainer.state().drainTouchedRows();
            TrainingProgress p1 = TestModels.progress(1024, 0.7);
            store.writeFull(header(1, null, UpdateKind.FULL, config, p1), trainer.state());
            TestModels.train(trainer, TestModels.events(512, 2));
            TrainingProgress p2 = TestModels.progress(1536, 0.71);
            ModelDelta d = TestModels.cutDelta(trainer.state(), p2);
            store.writeDelta(header(2, 1L, UpdateKind.DELTA, config, p2), new DeltaPayload(2, 1, d).encode(), d.dense());
        }
    }

    private static ModelManifest header(long v, Long parent, UpdateKind kind, ModelConfig config, TrainingProgress p) {
        return new ModelManifest(ModelManifest.FORMAT_VERSION, MODEL, v, parent, kind, 1_700_000_000_000L + v, config,
                ModelPublisher.layoutRef(TestModels.LAYOUT), p.inputOffsets(), p.trainedExamples(), p.maxEventTime(), "freshet 0.1.0 fixture",
                p.metrics(), Map.of(), null);
    }
}
