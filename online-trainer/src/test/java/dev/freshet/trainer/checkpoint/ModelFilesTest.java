package dev.freshet.trainer.checkpoint;

import dev.freshet.trainer.EmbeddingTable;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelDelta;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.TrainingProgress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelFilesTest {

    static void assertSameState(ModelState expected, ModelState actual) {
        assertEquals(expected.config(), actual.config());
        assertArrayEquals(expected.dense().values(), actual.dense().values());
        assertArrayEquals(expected.dense().slot1(), actual.dense().slot1());
        assertArrayEquals(expected.dense().slot2(), actual.dense().slot2());
        assertEquals(expected.dense().step(), actual.dense().step());
        for (int t = 0; t < expected.tables().size(); t++) {
            EmbeddingTable a = expected.tables().get(t);
            EmbeddingTable b = actual.tables().get(t);
            float[] ra = new float[a.spec().dim()];
            float[] rb = new float[b.spec().dim()];
            for (int r = 0; r < a.spec().rows(); r++) {
                a.readRow(r, ra, 0);
                b.readRow(r, rb, 0);
                assertArrayEquals(ra, rb, "table " + t + " row " + r);
                assertEquals(a.accumulator(r), b.accumulator(r), 0f, "table " + t + " accumulator " + r);
            }
        }
    }

    @Test
    void roundTripIsBitExact(@TempDir Path tmp) throws IOException {
        HeapModelState state = new HeapModelState(TinyModels.tiny()).randomize(3);
        ModelManifest written = ModelFiles.write(state, tmp.resolve("m"), Map.of("version", "7", "offsets", "features-0=12"));
        assertEquals(4, written.files().size());
        ModelState back = ModelFiles.read(tmp.resolve("m"), HeapModelState::new);
        assertSameState(state, back);
        ModelManifest manifest = ModelFiles.verify(tmp.resolve("m"));
        assertEquals(Map.of("version", "7", "offsets", "features-0=12"), manifest.metadata());
        assertEquals(ModelFiles.FORMAT_VERSION, manifest.formatVersion());
        // rows * (dim + 1) floats plus the header of 8 + 4 + (4 + 4 name bytes) + 8 + 4
        assertEquals(32 + 50 * 5 * 4, Files.size(tmp.resolve("m").resolve(ModelFiles.tableFile(0))));
    }

    @Test
    void unknownFormatVersionIsRejectedByNumber(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("m");
        ModelFiles.write(new HeapModelState(TinyModels.tiny()).randomize(1), dir, Map.of());
        patchInt(dir.resolve(ModelFiles.MANIFEST), 8, 99);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelFiles.readManifest(dir));
        assertTrue(e.getMessage().contains("format version 99"), e.getMessage());
        assertTrue(e.getMessage().contains("reads format 1 only"), e.getMessage());
    }

    @Test
    void corruptOrTruncatedFilesAreRefused(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("m");
        ModelFiles.write(new HeapModelState(TinyModels.tiny()).randomize(2), dir, Map.of());
        Path table = dir.resolve(ModelFiles.tableFile(1));
        try (RandomAccessFile f = new RandomAccessFile(table.toFile(), "rw")) {
            f.seek(100);
            int b = f.read();
            f.seek(100);
            f.write(b ^ 0x40);
        }
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelFiles.read(dir, HeapModelState::new));
        assertTrue(e.getMessage().contains("SHA-256"), e.getMessage());
        assertThrows(ModelFormatException.class, () -> ModelFiles.verify(dir));

        try (RandomAccessFile f = new RandomAccessFile(table.toFile(), "rw")) {
            f.setLength(f.length() - 10);
        }
        e = assertThrows(ModelFormatException.class, () -> ModelFiles.read(dir, HeapModelState::new));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());

        Files.delete(dir.resolve(ModelFiles.MANIFEST));
        e = assertThrows(ModelFormatException.class, () -> ModelFiles.readManifest(dir));
        assertTrue(e.getMessage().contains("incomplete"), e.getMessage());
    }

    @Test
    void deltaRoundTrip() throws IOException {
        ModelConfig config = TinyModels.tiny();
        float[] dense = new float[new dev.freshet.trainer.DenseParameters(config).size()];
        for (int i = 0; i < dense.length; i++) dense[i] = i * 0.25f - 3;
        ModelDelta delta = new ModelDelta(config,
                List.of(new ModelDelta.TableRows(0, new int[]{3, 9}, new float[]{1, 2, 3, 4, 5, 6, 7, 8}),
                        new ModelDelta.TableRows(2, new int[]{6}, new float[]{-1, Float.MIN_VALUE, 0, 1e30f})),
                dense, new TrainingProgress(Map.of("features-0", 120L, "features-1", 7L), 4096, Map.of("auc", 0.75), 1234567L));
        byte[] bytes = ModelFiles.encodeDelta(delta);
        ModelDelta back = ModelFiles.decodeDelta(bytes);
        assertEquals(config, back.config());
        assertArrayEquals(dense, back.dense());
        assertEquals(2, back.rows().size());
        assertArrayEquals(new int[]{3, 9}, back.rows().get(0).rows());
        assertArrayEquals(new float[]{-1, Float.MIN_VALUE, 0, 1e30f}, back.rows().get(1).values());
        assertEquals(delta.progress(), back.progress());

        bytes[bytes.length / 2] ^= 1;
        assertThrows(IOException.class, () -> ModelFiles.decodeDelta(bytes));
    }

    /**
     * A model written by format version 1, kept in test resources (STYLE 6): later releases must still read it.
     * It holds {@code new HeapModelState(TinyModels.tiny()).randomize(2026)}.
     */
    @Test
    void formatVersion1ArtifactStillLoads() throws IOException, URISyntaxException {
        Path dir = Path.of(getClass().getResource("/model-format-v1/" + ModelFiles.MANIFEST).toURI()).getParent();
        ModelState loaded = ModelFiles.read(dir, HeapModelState::new);
        assertSameState(new HeapModelState(TinyModels.tiny()).randomize(2026), loaded);
        assertEquals("format-v1-fixture", ModelFiles.readManifest(dir).metadata().get("origin"));
    }

    /** Regenerates the fixture: run by hand only when deliberately adding a new format version's fixture. */
    public static void main(String[] args) throws IOException {
        ModelFiles.write(new HeapModelState(TinyModels.tiny()).randomize(2026), Path.of(args[0]), Map.of("origin", "format-v1-fixture"));
    }

    private static void patchInt(Path file, long at, int value) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(at);
            f.write(new byte[]{(byte) value, (byte) (value >>> 8), (byte) (value >>> 16), (byte) (value >>> 24)});
        }
    }
}
