package dev.freshet.trainer.online;

import dev.freshet.trainer.ModelDelta;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.TrainingProgress;
import dev.freshet.trainer.checkpoint.HeapModelState;
import dev.freshet.trainer.checkpoint.ModelFiles;
import dev.freshet.trainer.checkpoint.TinyModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class FileModelSinkTest {

    @Test
    void writesReadableDeltasAndFullModelsAndKeepsTheNewest(@TempDir Path dir) throws IOException {
        FileModelSink sink = new FileModelSink(dir, 2, 1);
        HeapModelState state = new HeapModelState(TinyModels.tiny()).randomize(9);
        for (int i = 1; i <= 3; i++) {
            float[] dense = state.dense().values().clone();
            dense[0] = i;
            sink.delta(new ModelDelta(state.config(), List.of(new ModelDelta.TableRows(1, new int[]{i}, new float[]{i, i, i, i})), dense,
                    new TrainingProgress(Map.of("features-0", 10L * i), 100L * i, Map.of("auc", 0.7), 5L)));
        }
        assertEquals(List.of("delta-00000000000000000200.bin", "delta-00000000000000000300.bin"),
                sink.deltas().stream().map(p -> p.getFileName().toString()).toList());
        try (InputStream in = Files.newInputStream(sink.deltas().get(1))) {
            ModelDelta back = ModelFiles.readDelta(in);
            assertEquals(3f, back.dense()[0]);
            assertArrayEquals(new int[]{3}, back.rows().get(0).rows());
            assertEquals(300, back.progress().trainedExamples());
        }

        sink.full(state, new TrainingProgress(Map.of("features-0", 30L), 300, Map.of("auc", 0.71), 5L));
        sink.full(state, new TrainingProgress(Map.of("features-0", 40L), 400, Map.of("auc", 0.72), 6L));
        assertEquals(1, sink.fulls().size());
        Path full = sink.fulls().get(0);
        assertEquals("full-00000000000000000400", full.getFileName().toString());
        assertEquals("40", ModelFiles.verify(full).metadata().get("offset.features-0"));
        try (ModelState loaded = ModelFiles.read(full, HeapModelState::new)) {
            assertArrayEquals(state.dense().values(), loaded.dense().values());
        }
    }
}
