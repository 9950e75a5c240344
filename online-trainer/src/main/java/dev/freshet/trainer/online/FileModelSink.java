package dev.freshet.trainer.online;

import dev.freshet.trainer.ModelDelta;
import dev.freshet.trainer.ModelSink;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.TrainingProgress;
import dev.freshet.trainer.checkpoint.CheckpointStore;
import dev.freshet.trainer.checkpoint.ModelFiles;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The default {@link ModelSink} where no publisher runs: each delta becomes {@code delta-<examples>.bin}
 * ({@link ModelFiles#writeDelta} format) and each full model a {@code full-<examples>/} model directory,
 * named by the number of examples trained into them so that names sort by age. Both appear atomically
 * (written under a temporary name, synced, renamed); the newest {@code keepDeltas} and {@code keepFulls}
 * are kept.
 */
public final class FileModelSink implements ModelSink {
    private final Path dir;
    private final int keepDeltas;
    private final int keepFulls;

    public FileModelSink(Path dir, int keepDeltas, int keepFulls) {
        this.dir = Objects.requireNonNull(dir, "dir");
        if (keepDeltas < 1 || keepFulls < 1) {
            throw new IllegalArgumentException("keep at least one delta and one full model (got " + keepDeltas + ", " + keepFulls + ")");
        }
        this.keepDeltas = keepDeltas;
        this.keepFulls = keepFulls;
    }

    public Path dir() {
        return dir;
    }

    @Override
    public void delta(ModelDelta delta) {
        try {
            Files.createDirectories(dir);
            String name = String.format("delta-%020d.bin", delta.progress().trainedExamples());
            Path temp = dir.resolve(".tmp-" + name);
            try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
                 OutputStream out = Channels.newOutputStream(ch)) {
                ModelFiles.writeDelta(delta, out);
                ch.force(true);
            }
            Files.move(temp, dir.resolve(name), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            prune("delta-", keepDeltas);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write model delta into " + dir + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void full(ModelState state, TrainingProgress progress) {
        try {
            Files.createDirectories(dir);
            String name = String.format("full-%020d", progress.trainedExamples());
            Path temp = dir.resolve(".tmp-" + name + "-" + System.nanoTime());
            Map<String, String> meta = new TreeMap<>();
            progress.inputOffsets().forEach((k, v) -> meta.put("offset." + k, Long.toString(v)));
            progress.metrics().forEach((k, v) -> meta.put("metric." + k, Double.toString(v)));
            meta.put("trained-examples", Long.toString(progress.trainedExamples()));
            meta.put("max-event-time", Long.toString(progress.maxEventTime()));
            ModelFiles.write(state, temp, meta);
            Path target = dir.resolve(name);
            if (Files.exists(target)) CheckpointStore.deleteRecursively(target);
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
            ModelFiles.fsyncDirectory(dir);
            prune("full-", keepFulls);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write full model into " + dir + ": " + e.getMessage(), e);
        }
    }

    /** Deltas on disk, oldest first. */
    public List<Path> deltas() throws IOException {
        return list("delta-");
    }

    /** Full model directories on disk, oldest first. */
    public List<Path> fulls() throws IOException {
        return list("full-");
    }

    private List<Path> list(String prefix) throws IOException {
        if (!Files.isDirectory(dir)) return List.of();
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().startsWith(prefix)).sorted().toList();
        }
    }

    private void prune(String prefix, int keep) throws IOException {
        List<Path> all = list(prefix);
        for (int i = 0; i < all.size() - keep; i++) CheckpointStore.deleteRecursively(all.get(i));
    }
}
