package dev.freshet.trainer.checkpoint;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CheckpointStoreTest {

    private static List<String> names(Path root) throws IOException {
        try (Stream<Path> s = Files.list(root)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void halfWrittenCheckpointIsNeverLoadedAndIsCleanedUp(@TempDir Path root) throws IOException {
        CheckpointStore store = new CheckpointStore(root, 3);
        HeapModelState first = new HeapModelState(TinyModels.tiny()).randomize(1);
        store.write(first, 10, Map.of("n", "10"));
        // A crash after two data files of the next checkpoint: the listener throws where a SIGKILL would hit.
        HeapModelState second = new HeapModelState(TinyModels.tiny()).randomize(2);
        IOException crash = assertThrows(IOException.class, () -> store.write(second, 20, Map.of("n", "20"), name -> {
            if (name.equals(ModelFiles.tableFile(0))) throw new IOException("simulated crash");
        }));
        assertEquals("simulated crash", crash.getMessage());
        // Also a checkpoint directory that lost its marker (e.g. copied by hand).
        store.write(second, 30, Map.of("n", "30"));
        Files.delete(root.resolve("ckpt-00000000000000000030").resolve(CheckpointStore.COMPLETE));

        assertEquals(1, store.list().size());
        CheckpointStore.Loaded loaded = store.loadNewest(HeapModelState::new).orElseThrow();
        assertEquals(10, loaded.checkpoint().step());
        ModelFilesTest.assertSameState(first, loaded.state());

        assertEquals(2, store.cleanIncomplete());
        assertEquals(List.of("ckpt-00000000000000000010"), names(root));
    }

    @Test
    void corruptNewestCheckpointFallsBackToTheOlderOne(@TempDir Path root) throws IOException {
        CheckpointStore store = new CheckpointStore(root, 3);
        HeapModelState older = new HeapModelState(TinyModels.tiny()).randomize(1);
        store.write(older, 5, Map.of());
        CheckpointStore.Checkpoint newest = store.write(new HeapModelState(TinyModels.tiny()).randomize(2), 9, Map.of());
        try (RandomAccessFile f = new RandomAccessFile(newest.dir().resolve(ModelFiles.DENSE).toFile(), "rw")) {
            f.seek(40);
            f.write(0x7F);
        }
        CheckpointStore.Loaded loaded = store.loadNewest(HeapModelState::new).orElseThrow();
        assertEquals(5, loaded.checkpoint().step());
        ModelFilesTest.assertSameState(older, loaded.state());
        assertTrue(names(root).stream().anyMatch(n -> n.startsWith("corrupt-ckpt-00000000000000000009")), names(root).toString());
    }

    @Test
    void keepsTheNewestAndReplacesASameStepCheckpoint(@TempDir Path root) throws IOException {
        CheckpointStore store = new CheckpointStore(root, 2);
        for (int step = 1; step <= 4; step++) store.write(new HeapModelState(TinyModels.tiny()).randomize(step), step, Map.of());
        assertEquals(List.of("ckpt-00000000000000000003", "ckpt-00000000000000000004"), names(root));
        HeapModelState again = new HeapModelState(TinyModels.tiny()).randomize(44);
        store.write(again, 4, Map.of("again", "yes"));
        assertEquals(List.of("ckpt-00000000000000000003", "ckpt-00000000000000000004"), names(root));
        CheckpointStore.Loaded loaded = store.loadNewest(HeapModelState::new).orElseThrow();
        assertEquals("yes", loaded.checkpoint().metadata().get("again"));
        ModelFilesTest.assertSameState(again, loaded.state());
        assertFalse(store.list().isEmpty());
    }
}
