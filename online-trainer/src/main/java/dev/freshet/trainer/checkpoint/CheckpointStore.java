package dev.freshet.trainer.checkpoint;

import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Checkpoints of one trainer in one directory, each written atomically: the model goes into a hidden
 * temporary directory, every file is synced, a {@value #COMPLETE} marker is written and synced last, and
 * only then is the directory renamed to {@code ckpt-<step>} (and its parent synced). A crash at any
 * moment leaves either the previous checkpoints alone or the new one complete; {@link #cleanIncomplete()}
 * removes what a crash left half-written, and {@link #loadNewest} never reads it.
 *
 * <p>Checkpoints are named by training step, so the newest is the one with the highest step; the newest
 * {@code keep} are kept.
 */
public final class CheckpointStore {
    private static final Logger LOG = LoggerFactory.getLogger(CheckpointStore.class);
    public static final String COMPLETE = "COMPLETE";
    private static final String PREFIX = "ckpt-";
    private static final String TEMP_PREFIX = ".tmp-ckpt-";
    private static final String CORRUPT_PREFIX = "corrupt-ckpt-";
    private static final Pattern NAME = Pattern.compile("ckpt-(\\d{20})");

    private final Path root;
    private final int keep;

    /** @param keep how many newest complete checkpoints to keep (at least 1) */
    public CheckpointStore(Path root, int keep) {
        this.root = Objects.requireNonNull(root, "root");
        if (keep < 1) throw new IllegalArgumentException("checkpoints kept " + keep + " must be >= 1");
        this.keep = keep;
    }

    /** @param step the training step the checkpoint stands at; metadata carries offsets and counters */
    public record Checkpoint(Path dir, long step, ModelManifest manifest) {
        public Map<String, String> metadata() {
            return manifest.metadata();
        }
    }

    /** A checkpoint's model read into memory, with the checkpoint it came from. The caller owns (closes) the state. */
    public record Loaded(Checkpoint checkpoint, ModelState state) {
    }

    public Path root() {
        return root;
    }

    /** Writes {@code state} as the checkpoint of {@code step}, atomically; replaces an older checkpoint of the same step. */
    public Checkpoint write(ModelState state, long step, Map<String, String> metadata) throws IOException {
        return write(state, step, metadata, name -> { });
    }

    /** As {@link #write(ModelState, long, Map)}, calling {@code listener} after each file (tests crash a write half-way with it). */
    public Checkpoint write(ModelState state, long step, Map<String, String> metadata, ModelFiles.WriteListener listener) throws IOException {
        if (step < 0) throw new IllegalArgumentException("checkpoint step " + step + " must be >= 0");
        Files.createDirectories(root);
        Path temp = root.resolve(TEMP_PREFIX + name(step).substring(PREFIX.length()) + "-" + System.nanoTime());
        ModelManifest manifest = ModelFiles.write(state, temp, metadata, listener);
        Path marker = temp.resolve(COMPLETE);
        try (FileChannel ch = FileChannel.open(marker, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(StandardCharsets.UTF_8.encode("step=" + step + "\n"));
            ch.force(true);
        }
        listener.fileWritten(COMPLETE);
        ModelFiles.fsyncDirectory(temp);
        Path target = root.resolve(name(step));
        if (Files.exists(target)) {
            // A run that resumed from an older checkpoint reached this step again; training is deterministic,
            // so the old copy holds the same model: set it aside first so the rename below stays atomic.
            Path old = root.resolve(TEMP_PREFIX + "replaced-" + System.nanoTime());
            Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
            deleteRecursively(old);
        }
        try {
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("the file system of " + root + " cannot rename atomically, so checkpoints could be seen half-written. "
                    + "Fix: put the checkpoint directory on a local POSIX file system.", e);
        }
        ModelFiles.fsyncDirectory(root);
        prune();
        return new Checkpoint(target, step, manifest);
    }

    /** Complete checkpoints, newest first; does not verify their data files. */
    public List<Checkpoint> list() throws IOException {
        List<Checkpoint> out = new ArrayList<>();
        if (!Files.isDirectory(root)) return out;
        for (Path dir : children()) {
            Matcher m = NAME.matcher(dir.getFileName().toString());
            if (!m.matches() || !Files.isRegularFile(dir.resolve(COMPLETE))) continue;
            try {
                out.add(new Checkpoint(dir, Long.parseLong(m.group(1)), ModelFiles.readManifest(dir)));
            } catch (IOException e) {
                LOG.warn("checkpoint {} has an unreadable manifest and is skipped: {}", dir, e.getMessage());
            }
        }
        out.sort(Comparator.comparingLong(Checkpoint::step).reversed());
        return out;
    }

    /**
     * Reads the newest checkpoint whose files all match their SHA-256, allocating its state with
     * {@code allocate}. A checkpoint that fails is renamed {@code corrupt-ckpt-*} (kept for inspection)
     * and the next older one is tried. Empty when there is none.
     */
    public Optional<Loaded> loadNewest(Function<ModelConfig, ? extends ModelState> allocate) throws IOException {
        for (Checkpoint c : list()) {
            try {
                ModelState state = ModelFiles.read(c.dir(), allocate);
                return Optional.of(new Loaded(c, state));
            } catch (ModelFormatException e) {
                Path aside = root.resolve(CORRUPT_PREFIX + c.dir().getFileName().toString().substring(PREFIX.length()) + "-" + System.nanoTime());
                LOG.error("checkpoint {} is corrupt ({}); moved to {} and trying the next older one", c.dir(), e.getMessage(), aside);
                Files.move(c.dir(), aside, StandardCopyOption.ATOMIC_MOVE);
            }
        }
        return Optional.empty();
    }

    /**
     * Deletes what a crash left behind: temporary directories and checkpoint directories without their
     * {@value #COMPLETE} marker. Returns how many it removed.
     */
    public int cleanIncomplete() throws IOException {
        if (!Files.isDirectory(root)) return 0;
        int removed = 0;
        for (Path dir : children()) {
            String name = dir.getFileName().toString();
            boolean temp = name.startsWith(TEMP_PREFIX);
            boolean unmarked = NAME.matcher(name).matches() && !Files.isRegularFile(dir.resolve(COMPLETE));
            if (temp || unmarked) {
                LOG.info("removing incomplete checkpoint {}", dir);
                deleteRecursively(dir);
                removed++;
            }
        }
        return removed;
    }

    private void prune() throws IOException {
        List<Checkpoint> all = list();
        for (int i = keep; i < all.size(); i++) {
            // Rename first so that a crash in the middle of deleting never leaves a "complete" partial checkpoint.
            Path doomed = root.resolve(TEMP_PREFIX + "pruned-" + System.nanoTime());
            Files.move(all.get(i).dir(), doomed, StandardCopyOption.ATOMIC_MOVE);
            deleteRecursively(doomed);
        }
    }

    private List<Path> children() throws IOException {
        try (Stream<Path> s = Files.list(root)) {
            return s.filter(Files::isDirectory).toList();
        }
    }

    static String name(long step) {
        return String.format("%s%020d", PREFIX, step);
    }

    /** Deletes a file or a directory tree; a path that is already gone is fine. */
    public static void deleteRecursively(Path dir) throws IOException {
        try {
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    Files.delete(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path d, IOException exc) throws IOException {
                    if (exc != null) throw exc;
                    Files.delete(d);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (NoSuchFileException e) {
            // already gone
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }
}
