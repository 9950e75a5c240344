package dev.freshet.trainer.checkpoint;

import dev.freshet.trainer.EmbeddingTable;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.OptimizerKind;
import dev.freshet.trainer.OptimizerSpec;
import dev.freshet.trainer.Precision;
import dev.freshet.trainer.TableSpec;
import dev.freshet.trainer.host.HostModelState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Model files stream tables: a JVM whose heap is a third of the table writes it, reads it back into
 * off-heap memory and finds every sampled row and accumulator equal. Loading a table into the heap
 * anywhere on the way would end in an OutOfMemoryError.
 */
class LargeTableStreamingTest {
    private static final int HEAP_MB = 32;
    private static final int ROWS = 1_500_000;
    private static final int DIM = 16;

    @Test
    void aTableThreeTimesTheHeapRoundTrips(@TempDir Path tmp) throws Exception {
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx" + HEAP_MB + "m",
                "-XX:MaxDirectMemorySize=512m", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"), LargeTableStreamingTest.class.getName(), tmp.toString())
                .redirectErrorStream(true).start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the child did not finish in 120 s");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("ROUND TRIP OK"), out);
        long tableBytes = Files.size(tmp.resolve("m").resolve(ModelFiles.tableFile(0)));
        assertTrue(tableBytes > 3L * HEAP_MB * 1024 * 1024, "table file " + tableBytes + " bytes");
    }

    /** The child: write, read back, compare a sample. */
    public static void main(String[] args) throws IOException {
        ModelConfig config = new ModelConfig(List.of(new TableSpec("big", ROWS, DIM)), 2, DIM, List.of(8, DIM), List.of(4, 1),
                OptimizerSpec.of(OptimizerKind.ROWWISE_ADAGRAD, 0.1f), OptimizerSpec.of(OptimizerKind.ADAGRAD, 0.1f), 8, 3, Precision.FP32);
        Path dir = Path.of(args[0]).resolve("m");
        try (HostModelState state = HostModelState.initialize(config)) {
            EmbeddingTable t = state.tables().get(0);
            for (int r = 0; r < ROWS; r += 997) t.setAccumulator(r, r * 0.5f);
            ModelFiles.write(state, dir, Map.of());
            try (ModelState back = ModelFiles.read(dir, HostModelState::allocate)) {
                EmbeddingTable b = back.tables().get(0);
                float[] x = new float[DIM];
                float[] y = new float[DIM];
                for (int r = 0; r < ROWS; r += 997) {
                    t.readRow(r, x, 0);
                    b.readRow(r, y, 0);
                    if (!Arrays.equals(x, y) || t.accumulator(r) != b.accumulator(r)) {
                        System.out.println("row " + r + " differs: " + Arrays.toString(x) + " vs " + Arrays.toString(y));
                        System.exit(1);
                    }
                }
            }
        }
        System.out.println("ROUND TRIP OK");
        System.exit(0);
    }
}
