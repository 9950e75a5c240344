package dev.freshet.publisher;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.freshet.publisher.internal.Sha256;
import dev.freshet.schemas.UpdateKind;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.checkpoint.ModelFiles;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The versioned model store: one directory per model version under {@code <root>/<model>/}, each
 * complete once its {@code manifest.json} is there (a version is written into a temporary directory
 * and renamed into place, so readers never see half a version). The layout is documented in the
 * module's {@code MODEL_STORE.md}.
 *
 * <p>Every read checks the file against the SHA-256 in the manifest, the format version in its header
 * and its length, and every path (a manifest's file names, a model-update record's artifact reference)
 * must stay inside the store.
 */
public final class ModelStore {
    public static final String MANIFEST = "manifest.json";
    public static final String DELTA_FILE = "delta.bin";
    public static final String ONNX_FILE = "model.onnx";
    private static final Pattern VERSION_DIR = Pattern.compile("v(\\d{20})");
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    private final Path root;
    private final String modelName;
    private final Path modelDir;
    /**
     * The kind of each version read so far. A version's manifest never changes once it is renamed into place,
     * and {@link #latestFull} asks for the kind of every version newer than the newest FULL: with a DELTA every
     * 250 ms and a FULL every 10 minutes that was up to 2,400 manifests parsed per DELTA, in the publisher's
     * {@link #retain} after each one (JFR, pipeline benchmark: 80% of the publishing thread's samples two
     * minutes in, and growing with every DELTA).
     */
    private final Map<Long, UpdateKind> kinds = new ConcurrentHashMap<>();

    private ModelStore(Path root, String modelName) {
        this.root = root;
        this.modelName = modelName;
        this.modelDir = root.resolve(modelName);
    }

    /** Opens (creating where absent) the store of {@code modelName} under {@code root}. */
    public static ModelStore open(Path root, String modelName) {
        Objects.requireNonNull(root, "root");
        Objects.requireNonNull(modelName, "modelName");
        if (!modelName.matches("[A-Za-z0-9][A-Za-z0-9._-]{0,127}")) {
            throw new ModelStoreException("model name '" + modelName + "' is not a safe directory name. Fix: use letters, digits, '.', '_', '-'");
        }
        Path abs = root.toAbsolutePath().normalize();
        try {
            Files.createDirectories(abs.resolve(modelName));
        } catch (IOException e) {
            throw new ModelStoreException("cannot create model store directory " + abs.resolve(modelName) + ": " + e.getMessage(), e);
        }
        return new ModelStore(abs, modelName);
    }

    public Path root() {
        return root;
    }

    public String modelName() {
        return modelName;
    }

    /** The artifact reference of a version, relative to the store root, as FULL model-update records carry it. */
    public String ref(long version) {
        return modelName + "/" + dirName(version);
    }

    public Path versionDir(long version) {
        return modelDir.resolve(dirName(version));
    }

    /**
     * The store path that {@code ref} names. Refuses an absolute reference, one that climbs out of the store
     * ({@code ..}), and one that leaves it through a symbolic link.
     */
    public Path resolve(String ref) {
        Objects.requireNonNull(ref, "ref");
        Path rel = Path.of(ref);
        if (rel.isAbsolute() || ref.isEmpty()) {
            throw new ModelStoreException("path '" + ref + "' is not relative to the model store " + root + ": refused");
        }
        return inside(root, root.resolve(rel).normalize(), ref);
    }

    /** The version number a reference such as {@code model/v00000000000000000042} names. */
    public long versionOf(String ref) {
        Path p = resolve(ref);
        Matcher m = VERSION_DIR.matcher(p.getFileName().toString());
        if (!m.matches() || !p.getParent().equals(modelDir)) {
            throw new ModelStoreException("artifact reference '" + ref + "' does not name a version of model " + modelName
                    + " (expected " + modelName + "/vNNNNNNNNNNNNNNNNNNNN)");
        }
        return Long.parseLong(m.group(1));
    }

    private static Path inside(Path base, Path p, String what) {
        if (!p.startsWith(base)) {
            throw new ModelStoreException("path '" + what + "' escapes " + base + ": refused. Fix: artifact paths must stay inside the model store");
        }
        if (Files.exists(p)) {
            try {
                if (!p.toRealPath().startsWith(base.toRealPath())) {
                    throw new ModelStoreException("path '" + what + "' leads out of " + base + " through a symbolic link: refused");
                }
            } catch (IOException e) {
                throw new ModelStoreException("cannot resolve path '" + what + "': " + e.getMessage(), e);
            }
        }
        return p;
    }

    /** Complete versions (those with a manifest), ascending. */
    public List<Long> versions() {
        List<Long> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(modelDir)) {
            s.forEach(p -> {
                Matcher m = VERSION_DIR.matcher(p.getFileName().toString());
                if (m.matches() && Files.isRegularFile(p.resolve(MANIFEST))) out.add(Long.parseLong(m.group(1)));
            });
        } catch (IOException e) {
            throw new ModelStoreException("cannot list model store " + modelDir + ": " + e.getMessage(), e);
        }
        out.sort(Comparator.naturalOrder());
        return out;
    }

    public OptionalLong latestVersion() {
        List<Long> v = versions();
        return v.isEmpty() ? OptionalLong.empty() : OptionalLong.of(v.get(v.size() - 1));
    }

    /** The newest FULL version. */
    public OptionalLong latestFull() {
        List<Long> v = versions();
        for (int i = v.size() - 1; i >= 0; i--) {
            if (kindOf(v.get(i)) == UpdateKind.FULL) return OptionalLong.of(v.get(i));
        }
        return OptionalLong.empty();
    }

    /** The kind of a complete version, from its manifest the first time and remembered after. */
    public UpdateKind kindOf(long version) {
        UpdateKind k = kinds.get(version);
        return k != null ? k : manifest(version).kind();
    }

    public byte[] manifestBytes(long version) {
        Path file = versionDir(version).resolve(MANIFEST);
        try {
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new ModelStoreException("model " + modelName + " has no version " + version + " in " + modelDir
                    + " (versions: " + versions() + ")", e);
        } catch (IOException e) {
            throw new ModelStoreException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    public ModelManifest manifest(long version) {
        ModelManifest m = parseManifest(manifestBytes(version), version);
        kinds.put(version, m.kind());
        return m;
    }

    /** Parses a manifest, refusing an unknown format version or one that names another model or version. */
    public ModelManifest parseManifest(byte[] bytes, long expectVersion) {
        ModelManifest m;
        try {
            var tree = JSON.readTree(bytes);
            int format = tree.path("formatVersion").asInt(-1);
            if (format != ModelManifest.FORMAT_VERSION) {
                throw new ModelStoreException("manifest of version " + expectVersion + " has format version " + format
                        + "; this reader knows version " + ModelManifest.FORMAT_VERSION + ". Fix: read it with the Freshet release that wrote it");
            }
            m = JSON.treeToValue(tree, ModelManifest.class);
        } catch (IOException | IllegalArgumentException e) {
            throw new ModelStoreException("manifest of version " + expectVersion + " of model " + modelName + " is not valid JSON of a manifest: "
                    + e.getMessage(), e);
        }
        if (m.version() != expectVersion || !m.modelName().equals(modelName)) {
            throw new ModelStoreException("manifest in " + versionDir(expectVersion) + " describes " + m.modelName() + " version "
                    + m.version() + ", not " + modelName + " version " + expectVersion);
        }
        for (String f : m.files().keySet()) fileOf(m, f);
        return m;
    }

    /** A file of a version, refused if its name leaves the version's directory. */
    public Path fileOf(ModelManifest m, String name) {
        Path dir = versionDir(m.version());
        Path rel = Path.of(name);
        if (rel.isAbsolute()) {
            throw new ModelStoreException("manifest of version " + m.version() + " names absolute path '" + name + "': refused");
        }
        return inside(dir, dir.resolve(rel).normalize(), name);
    }

    // ---- writing ----

    /**
     * Writes a FULL version: the state in the trainer's binary model format ({@link ModelFiles}: tables,
     * dense weights, their binary manifest) and the ONNX export of the dense part. Read the state between
     * training steps.
     */
    public ModelManifest writeFull(ModelManifest header, ModelState state) {
        ModelConfig config = header.config();
        if (!state.config().equals(config)) {
            throw new IllegalArgumentException("state of config " + state.config() + " written under manifest config " + config);
        }
        return write(header, UpdateKind.FULL, dir -> {
            Map<String, String> files = new LinkedHashMap<>();
            var binary = ModelFiles.write(state, dir, Map.of("model", modelName, "version", Long.toString(header.version())));
            for (var f : binary.files()) files.put(f.name(), f.sha256Hex());
            files.put(ModelFiles.MANIFEST, Sha256.hex(Files.readAllBytes(dir.resolve(ModelFiles.MANIFEST))));
            files.put(ONNX_FILE, writeBytes(dir.resolve(ONNX_FILE), OnnxExport.export(config, state.dense().values(), modelName, header.version())));
            return files;
        });
    }

    /** Writes a DELTA version: its payload (as sent on the topic) and the ONNX export of its dense weights. */
    public ModelManifest writeDelta(ModelManifest header, byte[] payload, float[] dense) {
        return write(header, UpdateKind.DELTA, dir -> {
            Map<String, String> files = new LinkedHashMap<>();
            files.put(DELTA_FILE, writeBytes(dir.resolve(DELTA_FILE), payload));
            files.put(ONNX_FILE, writeBytes(dir.resolve(ONNX_FILE), OnnxExport.export(header.config(), dense, modelName, header.version())));
            return files;
        });
    }

    /**
     * Copies {@code source}'s files as a new FULL version described by {@code header} (rollback). The
     * files are byte-for-byte the source's: the same model under a new number.
     */
    public ModelManifest copyFull(ModelManifest source, ModelManifest header) {
        if (source.kind() != UpdateKind.FULL) {
            throw new IllegalArgumentException("version " + source.version() + " is a " + source.kind() + "; only a FULL can be copied");
        }
        verify(source);
        return write(header, UpdateKind.FULL, dir -> {
            Map<String, String> files = new LinkedHashMap<>();
            for (Map.Entry<String, String> f : source.files().entrySet()) {
                Path target = dir.resolve(f.getKey());
                Files.createDirectories(target.getParent());
                Files.copy(fileOf(source, f.getKey()), target);
                files.put(f.getKey(), f.getValue());
            }
            return files;
        });
    }

    private interface Writer {
        Map<String, String> write(Path dir) throws IOException;
    }

    private ModelManifest write(ModelManifest header, UpdateKind kind, Writer writer) {
        if (!header.modelName().equals(modelName)) {
            throw new IllegalArgumentException("manifest for model " + header.modelName() + " written to the store of " + modelName);
        }
        Path target = versionDir(header.version());
        if (Files.exists(target)) {
            throw new VersionTakenException(modelName, header.version());
        }
        Path tmp = modelDir.resolve(".tmp-" + dirName(header.version()) + "-" + System.nanoTime());
        try {
            Files.createDirectory(tmp);
            Map<String, String> files = writer.write(tmp);
            ModelManifest m = new ModelManifest(ModelManifest.FORMAT_VERSION, modelName, header.version(), header.parent(), kind,
                    header.createdAt(), header.config(), header.layout(), header.inputOffsets(), header.trainedExamples(),
                    header.maxEventTime(), header.codeVersion(), header.metrics(), files, header.rollbackOf());
            Files.write(tmp.resolve(MANIFEST), JSON.writeValueAsBytes(m));
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (FileAlreadyExistsException | DirectoryNotEmptyException e) {
                throw new VersionTakenException(modelName, header.version());
            }
            return m;
        } catch (IOException e) {
            throw new ModelStoreException("cannot write version " + header.version() + " of " + modelName + " to " + modelDir + ": "
                    + e.getMessage() + ". Fix: check free space and permissions of the model store", e);
        } finally {
            if (Files.exists(tmp)) deleteTree(tmp);
        }
    }

    /** Another writer (e.g. a rollback) already holds this version number; take the next one. */
    public static final class VersionTakenException extends RuntimeException {
        public VersionTakenException(String model, long version) {
            super("version " + version + " of model " + model + " already exists in the store");
        }
    }

    private static String writeBytes(Path file, byte[] data) throws IOException {
        Files.write(file, data);
        return Sha256.hex(data);
    }

    // ---- reading ----

    /** Reads a whole file of a version and checks it against the manifest's SHA-256. */
    public byte[] readFile(ModelManifest m, String name) {
        String expect = m.files().get(name);
        if (expect == null) {
            throw new ModelStoreException("version " + m.version() + " of " + modelName + " has no file " + name + " in its manifest");
        }
        Path file = fileOf(m, name);
        byte[] data;
        try {
            data = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new ModelStoreException("cannot read " + file + " of version " + m.version() + ": " + e.getMessage(), e);
        }
        checkSha(m, name, Sha256.hex(data), expect);
        return data;
    }

    public DeltaPayload readDelta(ModelManifest m) {
        DeltaPayload p = DeltaPayload.decode(readFile(m, DELTA_FILE), m.config());
        if (p.version() != m.version() || m.parent() == null || p.parent() != m.parent()) {
            throw new ModelStoreException("delta.bin of version " + m.version() + " says version " + p.version() + " on parent "
                    + p.parent() + "; the manifest says parent " + m.parent());
        }
        return p;
    }

    /**
     * Fills {@code target} (of the version's config) with a FULL version's weights. The binary manifest
     * must match manifest.json's SHA-256 and every data file the binary manifest's; on any failure the
     * target is partly written and must be discarded.
     */
    public void readFullInto(ModelManifest m, ModelState target) {
        if (m.kind() != UpdateKind.FULL) {
            throw new ModelStoreException("version " + m.version() + " of " + modelName + " is a " + m.kind() + ", not a FULL snapshot");
        }
        readFile(m, ModelFiles.MANIFEST);
        try {
            ModelFiles.readInto(versionDir(m.version()), target);
        } catch (IOException e) {
            throw new ModelStoreException("FULL version " + m.version() + " of " + modelName + " cannot be read: " + e.getMessage()
                    + ". Fix: republish the version, or roll back to another", e);
        }
    }

    /** Checks every file of a version against its manifest without loading it. */
    public void verify(ModelManifest m) {
        for (String name : m.files().keySet()) {
            if (name.startsWith("table-")) continue;
            readFile(m, name);
        }
        if (m.kind() == UpdateKind.FULL) {
            try {
                ModelFiles.verify(versionDir(m.version()));
            } catch (IOException e) {
                throw new ModelStoreException("FULL version " + m.version() + " of " + modelName + " failed verification: " + e.getMessage(), e);
            }
        }
    }

    private void checkSha(ModelManifest m, String name, String actual, String expect) {
        if (!actual.equals(expect)) {
            throw new ModelStoreException("file " + name + " of version " + m.version() + " of " + modelName + " has SHA-256 " + actual
                    + " but its manifest says " + expect + ": corrupt. Fix: republish the version, or roll back to another");
        }
    }

    /**
     * What a subscriber needs to rebuild the newest model: the newest FULL and the DELTAs that follow it,
     * in order, each the parent of the next. Stops at the first break in the parent chain.
     */
    public List<ModelManifest> latestChain() {
        List<Long> all = versions();
        OptionalLong full = latestFull();
        if (full.isEmpty()) return List.of();
        List<ModelManifest> chain = new ArrayList<>();
        ModelManifest head = manifest(full.getAsLong());
        chain.add(head);
        for (long v : all) {
            if (v <= head.version()) continue;
            ModelManifest m = manifest(v);
            if (m.kind() != UpdateKind.DELTA || m.parent() == null || m.parent() != chain.get(chain.size() - 1).version()) break;
            chain.add(m);
        }
        return chain;
    }

    // ---- retention ----

    /**
     * Deletes versions that are neither among the newest {@code keepLast} nor needed to rebuild the newest
     * model (the newest FULL and every version after it).
     *
     * @return the versions deleted
     */
    public List<Long> retain(int keepLast) {
        if (keepLast < 1) throw new IllegalArgumentException("keepLast " + keepLast + " must be at least 1");
        List<Long> all = versions();
        TreeSet<Long> keep = new TreeSet<>(all.subList(Math.max(0, all.size() - keepLast), all.size()));
        OptionalLong full = latestFull();
        if (full.isPresent()) {
            for (long v : all) if (v >= full.getAsLong()) keep.add(v);
        }
        List<Long> deleted = new ArrayList<>();
        for (long v : all) {
            if (!keep.contains(v)) {
                deleteTree(versionDir(v));
                kinds.remove(v);
                deleted.add(v);
            }
        }
        return deleted;
    }

    private static String dirName(long version) {
        if (version < 0) throw new IllegalArgumentException("version " + version + " must be >= 0");
        return String.format("v%020d", version);
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + dir + ": " + e.getMessage(), e);
        }
    }
}
