package dev.freshet.publisher;

import dev.freshet.schemas.UpdateKind;
import dev.freshet.serving.TestModels;
import dev.freshet.serving.internal.LoadTarget;
import dev.freshet.serving.internal.OnnxDenseModel;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelDelta;
import dev.freshet.trainer.TrainingProgress;
import dev.freshet.trainer.checkpoint.ModelFiles;
import dev.freshet.trainer.host.HostModelState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every model store artifact round-trips; damaged, unknown or escaping ones are refused with a message that names them. */
class ModelStoreTest {
    @TempDir
    Path dir;

    private final ModelConfig config = TestModels.config();

    private ModelManifest header(long version, Long parent) {
        TrainingProgress p = TestModels.progress(1000 * version, 0.7 + version / 100.0);
        return new ModelManifest(ModelManifest.FORMAT_VERSION, "m", version, parent, UpdateKind.FULL, 1_700_000_000_000L + version, config,
                ModelPublisher.layoutRef(TestModels.LAYOUT), p.inputOffsets(), p.trainedExamples(), p.maxEventTime(), "test-code",
                p.metrics(), Map.of(), null);
    }

    private ModelManifest writeFull(ModelStore store, long version) {
        try (HostModelState state = HostModelState.initialize(config)) {
            return store.writeFull(header(version, version > 1 ? version - 1 : null), state);
        }
    }

    private ModelDelta delta(long seed) {
        java.util.Random rnd = new java.util.Random(seed);
        int[] rows = {3, 17, 400, 999};
        float[] values = new float[rows.length * config.embeddingDim()];
        for (int i = 0; i < values.length; i++) values[i] = (float) rnd.nextGaussian();
        float[] dense = new float[new dev.freshet.trainer.DenseParameters(config).size()];
        for (int i = 0; i < dense.length; i++) dense[i] = (float) rnd.nextGaussian();
        return new ModelDelta(config, List.of(new ModelDelta.TableRows(0, rows, values)), dense, TestModels.progress(seed, 0.7));
    }

    private ModelManifest writeDelta(ModelStore store, long version, long parent) {
        ModelDelta d = delta(version);
        return store.writeDelta(header(version, parent), new DeltaPayload(version, parent, d).encode(), d.dense());
    }

    @Test
    void fullVersionRoundTrips() throws Exception {
        ModelStore store = ModelStore.open(dir, "m");
        ModelManifest written = writeFull(store, 1);
        ModelManifest read = store.manifest(1);
        assertEquals(written, read);
        assertEquals(UpdateKind.FULL, read.kind());
        assertEquals(config, read.config());
        assertEquals(TestModels.LAYOUT.id(), read.layout().id());
        assertEquals(Map.of("features-0", 1000L), read.inputOffsets());
        assertEquals(0.71, read.auc(), 1e-12);
        assertTrue(read.files().keySet().containsAll(List.of(ModelFiles.MANIFEST, ModelFiles.DENSE, ModelFiles.tableFile(0), ModelStore.ONNX_FILE)),
                read.files().toString());
        store.verify(read);

        LoadTarget target = new LoadTarget(config);
        store.readFullInto(read, target);
        try (HostModelState expected = HostModelState.initialize(config)) {
            float[] a = new float[8];
            float[] b = new float[8];
            for (int t = 0; t < config.numTables(); t++) {
                for (int r = 0; r < config.tables().get(t).rows(); r += 7) {
                    expected.tables().get(t).readRow(r, a, 0);
                    target.tables().get(t).readRow(r, b, 0);
                    assertArrayEquals(a, b);
                }
            }
            assertArrayEquals(expected.dense().values(), target.dense().values());
            // The stored ONNX file is the dense part of this version: it loads into ONNX Runtime as it is.
            try (OnnxDenseModel onnx = new OnnxDenseModel(Files.readAllBytes(store.versionDir(1).resolve(ModelStore.ONNX_FILE)), "m", 4, 8, 3)) {
                assertEquals(1, onnx.predict(new OnnxDenseModel.Batch(new float[32], new float[3], 1)).length);
            }
        }
        assertEquals(List.of(written), store.latestChain());
        assertEquals("m/v00000000000000000001", store.ref(1));
        assertEquals(1, store.versionOf(store.ref(1)));
    }

    @Test
    void deltaVersionRoundTrips() {
        ModelStore store = ModelStore.open(dir, "m");
        writeFull(store, 1);
        writeDelta(store, 2, 1);
        DeltaPayload p = store.readDelta(store.manifest(2));
        ModelDelta want = delta(2);
        assertEquals(2, p.version());
        assertEquals(1, p.parent());
        assertArrayEquals(want.rows().get(0).rows(), p.delta().rows().get(0).rows());
        assertArrayEquals(want.rows().get(0).values(), p.delta().rows().get(0).values());
        assertArrayEquals(want.dense(), p.delta().dense());
        assertEquals(want.progress(), p.delta().progress());
        assertEquals(List.of(1L, 2L), store.latestChain().stream().map(ModelManifest::version).toList());
    }

    @Test
    void unknownFormatVersionsAreRefusedByName() throws IOException {
        ModelStore store = ModelStore.open(dir, "m");
        writeFull(store, 1);
        writeDelta(store, 2, 1);

        Path manifest = store.versionDir(1).resolve(ModelStore.MANIFEST);
        String json = Files.readString(manifest).replace("\"formatVersion\" : 1", "\"formatVersion\" : 99");
        Files.writeString(manifest, json);
        ModelStoreException e = assertThrows(ModelStoreException.class, () -> store.manifest(1));
        assertTrue(e.getMessage().contains("format version 99") && e.getMessage().contains("knows version 1"), e.getMessage());

        byte[] payload = Files.readAllBytes(store.versionDir(2).resolve(ModelStore.DELTA_FILE));
        ByteBuffer.wrap(payload).putInt(4, 7);
        e = assertThrows(ModelStoreException.class, () -> DeltaPayload.decode(payload, config));
        assertTrue(e.getMessage().contains("format version 7"), e.getMessage());
    }

    @Test
    void unknownTableFormatIsRefused() throws IOException {
        ModelStore store = ModelStore.open(dir, "m");
        writeFull(store, 1);
        Path table = store.versionDir(1).resolve(ModelFiles.tableFile(2));
        try (RandomAccessFile f = new RandomAccessFile(table.toFile(), "rw")) {
            f.seek(8);
            f.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(5).array());
        }
        ModelStoreException e = assertThrows(ModelStoreException.class, () -> store.readFullInto(store.manifest(1), new LoadTarget(config)));
        assertTrue(e.getMessage().contains("format version 5"), e.getMessage());
    }

    @Test
    void wrongChecksumIsRefused() throws IOException {
        ModelStore store = ModelStore.open(dir, "m");
        writeFull(store, 1);
        writeDelta(store, 2, 1);
        Path table = store.versionDir(1).resolve(ModelFiles.tableFile(1));
        flipByte(table, Files.size(table) - 100);
        ModelStoreException e = assertThrows(ModelStoreException.class, () -> store.readFullInto(store.manifest(1), new LoadTarget(config)));
        assertTrue(e.getMessage().contains("SHA-256") && e.getMessage().contains(ModelFiles.tableFile(1)), e.getMessage());
        assertThrows(ModelStoreException.class, () -> store.verify(store.manifest(1)));

        Path onnx = store.versionDir(2).resolve(ModelStore.ONNX_FILE);
        flipByte(onnx, 40);
        e = assertThrows(ModelStoreException.class, () -> store.readFile(store.manifest(2), ModelStore.ONNX_FILE));
        assertTrue(e.getMessage().contains("SHA-256") && e.getMessage().contains("model.onnx") && e.getMessage().contains("corrupt"), e.getMessage());
    }

    @Test
    void truncatedFilesAreRefused() throws IOException {
        ModelStore store = ModelStore.open(dir, "m");
        writeFull(store, 1);
        writeDelta(store, 2, 1);
        Path table = store.versionDir(1).resolve(ModelFiles.tableFile(0));
        truncate(table, Files.size(table) - 12);
        ModelStoreException e = assertThrows(ModelStoreException.class, () -> store.readFullInto(store.manifest(1), new LoadTarget(config)));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());

        byte[] payload = Files.readAllBytes(store.versionDir(2).resolve(ModelStore.DELTA_FILE));
        byte[] cut = java.util.Arrays.copyOf(payload, payload.length - 20);
        e = assertThrows(ModelStoreException.class, () -> DeltaPayload.decode(cut, config));
        assertTrue(e.getMessage().contains("corrupt"), e.getMessage());
        Path delta = store.versionDir(2).resolve(ModelStore.DELTA_FILE);
        truncate(delta, 100);
        assertThrows(ModelStoreException.class, () -> store.readDelta(store.manifest(2)));
    }

    @Test
    void pathsThatEscapeTheStoreAreRefused() throws IOException {
        ModelStore store = ModelStore.open(dir.resolve("store"), "m");
        writeFull(store, 1);
        for (String ref : List.of("../outside", "m/../../etc/passwd", "/etc/passwd", "")) {
            ModelStoreException e = assertThrows(ModelStoreException.class, () -> store.resolve(ref), ref);
            assertTrue(e.getMessage().contains("refused"), e.getMessage());
        }
        assertThrows(ModelStoreException.class, () -> store.versionOf("m/tables"));
        assertThrows(ModelStoreException.class, () -> ModelStore.open(dir, "../evil"));

        Path manifest = store.versionDir(1).resolve(ModelStore.MANIFEST);
        String json = Files.readString(manifest).replace("\"" + ModelFiles.DENSE + "\"", "\"../../../../secret.bin\"");
        Files.writeString(manifest, json);
        ModelStoreException e = assertThrows(ModelStoreException.class, () -> store.manifest(1));
        assertTrue(e.getMessage().contains("escapes") && e.getMessage().contains("secret.bin"), e.getMessage());

        Files.writeString(dir.resolve("secret.txt"), "secret");
        Files.createSymbolicLink(dir.resolve("store").resolve("m").resolve("link"), dir);
        e = assertThrows(ModelStoreException.class, () -> store.resolve("m/link/secret.txt"));
        assertTrue(e.getMessage().contains("symbolic link"), e.getMessage());
    }

    @Test
    void retentionKeepsTheNewestAndWhatRebuildsTheNewest() {
        ModelStore store = ModelStore.open(dir, "m");
        writeFull(store, 1);
        writeDelta(store, 2, 1);
        writeDelta(store, 3, 2);
        writeFull(store, 4);
        writeDelta(store, 5, 4);
        writeDelta(store, 6, 5);
        writeDelta(store, 7, 6);
        assertEquals(List.of(1L, 2L, 3L), store.retain(2));
        assertEquals(List.of(4L, 5L, 6L, 7L), store.versions(), "the newest FULL and its chain outlive keep-last 2");
        assertEquals(List.of(4L, 5L, 6L, 7L), store.latestChain().stream().map(ModelManifest::version).toList());
        assertThrows(ModelStore.VersionTakenException.class, () -> writeDelta(store, 7, 6));
    }

    @Test
    void remembersKindsWithoutServingAStaleNewestFull() {
        ModelStore store = ModelStore.open(dir, "m");
        writeFull(store, 1);
        writeDelta(store, 2, 1);
        writeDelta(store, 3, 2);
        assertEquals(1, store.latestFull().getAsLong());
        // Another writer of the same store (a rollback) adds a FULL: this instance has the older versions' kinds
        // remembered and must still see the new one.
        ModelStore other = ModelStore.open(dir, "m");
        writeFull(other, 4);
        writeDelta(store, 5, 4);
        assertEquals(4, store.latestFull().getAsLong());
        assertEquals(UpdateKind.DELTA, store.kindOf(5));
        assertEquals(UpdateKind.FULL, store.kindOf(4));
        assertEquals(List.of(1L, 2L, 3L), store.retain(1));
        assertEquals(4, store.latestFull().getAsLong());
        assertThrows(ModelStoreException.class, () -> store.kindOf(2), "a deleted version has no kind");
    }

    @Test
    void deltaPayloadRefusesRowsOutOfRangeOrOrder() {
        ModelDelta bad = new ModelDelta(config, List.of(new ModelDelta.TableRows(0, new int[]{5, 3}, new float[16])),
                new float[new dev.freshet.trainer.DenseParameters(config).size()], TestModels.progress(1, 0.5));
        byte[] bytes = new DeltaPayload(2, 1, bad).encode();
        ModelStoreException e = assertThrows(ModelStoreException.class, () -> DeltaPayload.decode(bytes, config));
        assertTrue(e.getMessage().contains("row 3 (after 5)"), e.getMessage());
        byte[] notOurs = "hello, this is not a delta payload".getBytes(StandardCharsets.US_ASCII);
        assertThrows(ModelStoreException.class, () -> DeltaPayload.decode(notOurs, config));
    }

    private static void flipByte(Path file, long at) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(at);
            int b = f.read();
            f.seek(at);
            f.write(b ^ 0x40);
        }
    }

    private static void truncate(Path file, long size) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(size);
        }
    }
}
