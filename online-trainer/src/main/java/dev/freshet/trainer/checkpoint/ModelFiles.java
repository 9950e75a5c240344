package dev.freshet.trainer.checkpoint;

import dev.freshet.trainer.DenseParameters;
import dev.freshet.trainer.EmbeddingTable;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelDelta;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.OptimizerKind;
import dev.freshet.trainer.OptimizerSpec;
import dev.freshet.trainer.Precision;
import dev.freshet.trainer.TableSpec;
import dev.freshet.trainer.TrainingProgress;
import dev.freshet.trainer.checkpoint.internal.BinaryReader;
import dev.freshet.trainer.checkpoint.internal.BinaryWriter;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * The binary model format: a complete {@link ModelState} (embedding tables with their row-wise optimizer
 * state, dense weights with theirs, the config) as a directory of files, and a {@link ModelDelta} as one
 * stream. Checkpoints, the model store's snapshots and DELTA payloads all use it, so that the trainer
 * writes and the serving side reads one format (STYLE 7).
 *
 * <p>A model directory holds {@value #DENSE}, one {@code table-NNN.bin} per table and, written last,
 * {@value #MANIFEST}: the config, free-form metadata (offsets, versions, metrics) and each data file's
 * size and SHA-256. A directory without a manifest is incomplete and never read. Every file starts with
 * an 8-byte magic and the format version; a reader refuses a version it does not know, naming it.
 * All numbers are little-endian; floats are IEEE fp32, so a round trip is bit-exact.
 *
 * <pre>
 * table-NNN.bin  "FRESHETT" int version, string name, long rows, int dim,
 *                fp32 weights [rows, dim] row-major, fp32 accumulators [rows]
 * dense.bin      "FRESHETD" int version, int n, int slot1, int slot2, long step,
 *                fp32 values [n], slot1 [slot1], slot2 [slot2]
 * manifest.bin   "FRESHETM" int version, config, metadata map, files [(name, bytes, sha256)], sha256 of all before
 * delta stream   "FRESHETU" int version, config, progress, fp32 dense [n], per table (index, count, int rows[], fp32 values[count, dim]), sha256
 * </pre>
 *
 * Tables stream through a fixed 1 MiB buffer in both directions: a table of many GB never enters the heap.
 */
public final class ModelFiles {
    public static final int FORMAT_VERSION = 1;
    public static final String MANIFEST = "manifest.bin";
    public static final String DENSE = "dense.bin";

    private static final String MAGIC_TABLE = "FRESHETT";
    private static final String MAGIC_DENSE = "FRESHETD";
    private static final String MAGIC_MANIFEST = "FRESHETM";
    private static final String MAGIC_DELTA = "FRESHETU";

    private ModelFiles() {
    }

    /** Called after each data file is written and synced, before the manifest: lets tests crash a write half-way. */
    @FunctionalInterface
    public interface WriteListener {
        void fileWritten(String name) throws IOException;
    }

    public static String tableFile(int table) {
        return String.format("table-%03d.bin", table);
    }

    /**
     * Writes {@code state} into {@code dir} (created if absent; must not already hold a model), every file
     * synced to disk, the manifest last. Read it between training steps: the state must not change meanwhile.
     */
    public static ModelManifest write(ModelState state, Path dir, Map<String, String> metadata) throws IOException {
        return write(state, dir, metadata, name -> { });
    }

    public static ModelManifest write(ModelState state, Path dir, Map<String, String> metadata, WriteListener listener) throws IOException {
        Objects.requireNonNull(state, "state");
        Objects.requireNonNull(dir, "dir");
        Objects.requireNonNull(metadata, "metadata");
        Files.createDirectories(dir);
        if (Files.exists(dir.resolve(MANIFEST))) {
            throw new IOException("model directory " + dir + " already holds a model (" + MANIFEST + " exists); "
                    + "model directories are written once. Fix: write into a new directory.");
        }
        List<ModelManifest.FileEntry> files = new ArrayList<>();
        files.add(writeFile(dir, DENSE, w -> writeDense(w, state.dense())));
        listener.fileWritten(DENSE);
        List<EmbeddingTable> tables = state.tables();
        for (int i = 0; i < tables.size(); i++) {
            EmbeddingTable table = tables.get(i);
            files.add(writeFile(dir, tableFile(i), w -> writeTable(w, table)));
            listener.fileWritten(tableFile(i));
        }
        ModelManifest manifest = new ModelManifest(FORMAT_VERSION, state.config(), new TreeMap<>(metadata), files);
        writeFile(dir, MANIFEST, w -> {
            header(w, MAGIC_MANIFEST);
            writeConfig(w, manifest.config());
            writeStringMap(w, manifest.metadata());
            w.putInt(files.size());
            for (ModelManifest.FileEntry f : files) {
                w.putString(f.name());
                w.putLong(f.bytes());
                w.putBytes(f.sha256());
            }
        }, true);
        syncDirectory(dir);
        return manifest;
    }

    /** The manifest of a complete model directory; fails if it is missing, corrupt or of an unknown version. */
    public static ModelManifest readManifest(Path dir) throws IOException {
        Path file = dir.resolve(MANIFEST);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            BinaryReader r = new BinaryReader(ch, file.toString());
            int version = checkHeader(r, MAGIC_MANIFEST, file.toString());
            ModelConfig config = readConfig(r, file.toString());
            Map<String, String> metadata = readStringMap(r);
            int n = r.getInt();
            if (n < 1 || n > 1_000_000) throw new ModelFormatException(file + " lists " + n + " files: corrupt manifest");
            List<ModelManifest.FileEntry> files = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                files.add(new ModelManifest.FileEntry(r.getString(), r.getLong(), r.getBytes(32)));
            }
            r.verifyTrailingHash();
            if (files.size() != config.numTables() + 1) {
                throw new ModelFormatException(file + " lists " + files.size() + " files for a model of " + config.numTables() + " tables: corrupt manifest");
            }
            return new ModelManifest(version, config, metadata, files);
        } catch (NoSuchFileException e) {
            throw new ModelFormatException("model directory " + dir + " has no " + MANIFEST + ": it is incomplete (a write that did not finish) or not a model");
        }
    }

    /** Allocates a state for the directory's config with {@code allocate} and fills it; closes it again on failure. */
    public static ModelState read(Path dir, Function<ModelConfig, ? extends ModelState> allocate) throws IOException {
        ModelManifest manifest = readManifest(dir);
        ModelState state = allocate.apply(manifest.config());
        try {
            readInto(dir, manifest, state);
            return state;
        } catch (IOException | RuntimeException e) {
            state.close();
            throw e;
        }
    }

    /**
     * Overwrites {@code target} (whose config must equal the directory's) with the stored model. On a
     * failure (a file truncated or failing its SHA-256) the target is partly overwritten: discard it.
     */
    public static ModelManifest readInto(Path dir, ModelState target) throws IOException {
        ModelManifest manifest = readManifest(dir);
        readInto(dir, manifest, target);
        return manifest;
    }

    private static void readInto(Path dir, ModelManifest manifest, ModelState target) throws IOException {
        if (!manifest.config().equals(target.config())) {
            throw new ModelFormatException("model in " + dir + " has config " + manifest.config() + ", the target state has "
                    + target.config() + ". Fix: allocate the state from the stored config (ModelFiles.read).");
        }
        for (int i = 0; i < manifest.files().size(); i++) {
            ModelManifest.FileEntry entry = manifest.files().get(i);
            Path file = dir.resolve(entry.name());
            long size = Files.size(file);
            if (size != entry.bytes()) {
                throw new ModelFormatException(file + " has " + size + " bytes, its manifest says " + entry.bytes() + ": truncated or replaced");
            }
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                BinaryReader r = new BinaryReader(ch, file.toString());
                if (entry.name().equals(DENSE)) {
                    readDense(r, file.toString(), target.dense());
                } else {
                    int table = tableIndex(entry.name(), manifest.config());
                    readTable(r, file.toString(), target.tables().get(table));
                }
                if (!r.atEnd()) throw new ModelFormatException(file + " has bytes after its data: corrupt");
                byte[] actual = r.digest();
                if (!MessageDigest.isEqual(actual, entry.sha256())) {
                    throw new ModelFormatException(file + " has SHA-256 " + HexFormat.of().formatHex(actual) + ", its manifest says "
                            + entry.sha256Hex() + ": the file is corrupt");
                }
            }
        }
    }

    /** Re-hashes every file of a complete model directory against its manifest without loading anything. */
    public static ModelManifest verify(Path dir) throws IOException {
        ModelManifest manifest = readManifest(dir);
        MessageDigest md = sha256();
        byte[] chunk = new byte[1 << 16];
        for (ModelManifest.FileEntry entry : manifest.files()) {
            Path file = dir.resolve(entry.name());
            md.reset();
            long size = 0;
            try (InputStream in = Files.newInputStream(file)) {
                int n;
                while ((n = in.read(chunk)) > 0) {
                    md.update(chunk, 0, n);
                    size += n;
                }
            } catch (NoSuchFileException e) {
                throw new ModelFormatException(file + " is listed in the manifest but missing");
            }
            byte[] actual = md.digest();
            if (size != entry.bytes() || !MessageDigest.isEqual(actual, entry.sha256())) {
                throw new ModelFormatException(file + " (" + size + " bytes, SHA-256 " + HexFormat.of().formatHex(actual)
                        + ") does not match its manifest (" + entry.bytes() + " bytes, " + entry.sha256Hex() + ")");
            }
        }
        return manifest;
    }

    /** SHA-256 (hex) of the config's canonical binary form: model provenance's config fingerprint. */
    public static String configSha256(ModelConfig config) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            BinaryWriter w = new BinaryWriter(Channels.newChannel(out));
            writeConfig(w, config);
            return HexFormat.of().formatHex(w.finish());
        } catch (IOException e) {
            throw new IllegalStateException("in-memory write failed", e);
        }
    }

    // ---- deltas ----

    /** Serialises a delta (config, progress, dense weights, touched rows) followed by its SHA-256. */
    public static void writeDelta(ModelDelta delta, OutputStream out) throws IOException {
        Objects.requireNonNull(delta, "delta");
        BinaryWriter w = new BinaryWriter(Channels.newChannel(out));
        header(w, MAGIC_DELTA);
        writeConfig(w, delta.config());
        TrainingProgress p = delta.progress();
        w.putInt(p.inputOffsets().size());
        for (Map.Entry<String, Long> e : new TreeMap<>(p.inputOffsets()).entrySet()) {
            w.putString(e.getKey());
            w.putLong(e.getValue());
        }
        w.putLong(p.trainedExamples());
        w.putInt(p.metrics().size());
        for (Map.Entry<String, Double> e : new TreeMap<>(p.metrics()).entrySet()) {
            w.putString(e.getKey());
            w.putDouble(e.getValue());
        }
        w.putLong(p.maxEventTime());
        w.putInt(delta.dense().length);
        w.putFloats(delta.dense(), 0, delta.dense().length);
        w.putInt(delta.rows().size());
        int dim = delta.config().embeddingDim();
        for (ModelDelta.TableRows t : delta.rows()) {
            if ((long) t.rows().length * dim != t.values().length) {
                throw new IllegalArgumentException("delta for table " + t.table() + " has " + t.rows().length + " rows but "
                        + t.values().length + " values; dim " + dim + " needs " + (long) t.rows().length * dim);
            }
            w.putInt(t.table());
            w.putInt(t.rows().length);
            w.putInts(t.rows(), 0, t.rows().length);
            w.putFloats(t.values(), 0, t.values().length);
        }
        w.finishWithTrailingHash();
    }

    public static ModelDelta readDelta(InputStream in) throws IOException {
        String source = "model delta";
        BinaryReader r = new BinaryReader(Channels.newChannel(in), source);
        checkHeader(r, MAGIC_DELTA, source);
        ModelConfig config = readConfig(r, source);
        int nOffsets = count(r.getInt(), 1 << 20, "offsets", source);
        Map<String, Long> offsets = new LinkedHashMap<>();
        for (int i = 0; i < nOffsets; i++) offsets.put(r.getString(), r.getLong());
        long trained = r.getLong();
        int nMetrics = count(r.getInt(), 1 << 16, "metrics", source);
        Map<String, Double> metrics = new LinkedHashMap<>();
        for (int i = 0; i < nMetrics; i++) metrics.put(r.getString(), r.getDouble());
        long maxEventTime = r.getLong();
        int denseSize = count(r.getInt(), Integer.MAX_VALUE, "dense values", source);
        float[] dense = new float[denseSize];
        r.getFloats(dense, 0, denseSize);
        int nTables = count(r.getInt(), config.numTables(), "tables", source);
        List<ModelDelta.TableRows> rows = new ArrayList<>();
        int dim = config.embeddingDim();
        for (int i = 0; i < nTables; i++) {
            int table = r.getInt();
            if (table < 0 || table >= config.numTables()) {
                throw new ModelFormatException(source + ": table index " + table + " out of range for " + config.numTables() + " tables");
            }
            int n = count(r.getInt(), (int) Math.min(Integer.MAX_VALUE / dim, config.tables().get(table).rows()), "rows", source);
            int[] ids = new int[n];
            r.getInts(ids, 0, n);
            float[] values = new float[n * dim];
            r.getFloats(values, 0, values.length);
            rows.add(new ModelDelta.TableRows(table, ids, values));
        }
        r.verifyTrailingHash();
        return new ModelDelta(config, rows, dense, new TrainingProgress(offsets, trained, metrics, maxEventTime));
    }

    public static byte[] encodeDelta(ModelDelta delta) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            writeDelta(delta, out);
        } catch (IOException e) {
            throw new IllegalStateException("in-memory write failed", e);
        }
        return out.toByteArray();
    }

    public static ModelDelta decodeDelta(byte[] bytes) throws IOException {
        return readDelta(new java.io.ByteArrayInputStream(bytes));
    }

    // ---- pieces ----

    private interface Body {
        void write(BinaryWriter w) throws IOException;
    }

    private static ModelManifest.FileEntry writeFile(Path dir, String name, Body body) throws IOException {
        return writeFile(dir, name, body, false);
    }

    private static ModelManifest.FileEntry writeFile(Path dir, String name, Body body, boolean trailingHash) throws IOException {
        Path file = dir.resolve(name);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            BinaryWriter w = new BinaryWriter(ch);
            body.write(w);
            byte[] hash;
            if (trailingHash) {
                w.finishWithTrailingHash();
                hash = new byte[32];
            } else {
                hash = w.finish();
            }
            ch.force(true);
            return new ModelManifest.FileEntry(name, w.bytesWritten(), hash);
        }
    }

    private static void writeDense(BinaryWriter w, DenseParameters d) throws IOException {
        header(w, MAGIC_DENSE);
        w.putInt(d.values().length);
        w.putInt(d.slot1().length);
        w.putInt(d.slot2().length);
        w.putLong(d.step());
        w.putFloats(d.values(), 0, d.values().length);
        w.putFloats(d.slot1(), 0, d.slot1().length);
        w.putFloats(d.slot2(), 0, d.slot2().length);
    }

    private static void readDense(BinaryReader r, String source, DenseParameters d) throws IOException {
        checkHeader(r, MAGIC_DENSE, source);
        int n = r.getInt();
        int s1 = r.getInt();
        int s2 = r.getInt();
        if (n != d.values().length || s1 != d.slot1().length || s2 != d.slot2().length) {
            throw new ModelFormatException(source + " holds " + n + " dense values and optimizer slots of " + s1 + " and " + s2
                    + "; the config needs " + d.values().length + ", " + d.slot1().length + " and " + d.slot2().length);
        }
        d.setStep(r.getLong());
        r.getFloats(d.values(), 0, n);
        r.getFloats(d.slot1(), 0, s1);
        r.getFloats(d.slot2(), 0, s2);
    }

    private static void writeTable(BinaryWriter w, EmbeddingTable t) throws IOException {
        TableSpec spec = t.spec();
        header(w, MAGIC_TABLE);
        w.putString(spec.name());
        w.putLong(spec.rows());
        w.putInt(spec.dim());
        float[] row = new float[spec.dim()];
        int rows = (int) spec.rows();
        for (int i = 0; i < rows; i++) {
            t.readRow(i, row, 0);
            w.putFloats(row, 0, row.length);
        }
        for (int i = 0; i < rows; i++) {
            w.putFloat(t.accumulator(i));
        }
    }

    private static void readTable(BinaryReader r, String source, EmbeddingTable t) throws IOException {
        checkHeader(r, MAGIC_TABLE, source);
        TableSpec spec = t.spec();
        String name = r.getString();
        long rows = r.getLong();
        int dim = r.getInt();
        if (!name.equals(spec.name()) || rows != spec.rows() || dim != spec.dim()) {
            throw new ModelFormatException(source + " holds table " + name + " [" + rows + " x " + dim + "]; expected "
                    + spec.name() + " [" + spec.rows() + " x " + spec.dim() + "]");
        }
        float[] row = new float[dim];
        for (int i = 0; i < rows; i++) {
            r.getFloats(row, 0, dim);
            t.writeRow(i, row, 0);
        }
        for (int i = 0; i < rows; i++) {
            t.setAccumulator(i, r.getFloat());
        }
    }

    private static void header(BinaryWriter w, String magic) throws IOException {
        w.putBytes(magic.getBytes(StandardCharsets.US_ASCII));
        w.putInt(FORMAT_VERSION);
    }

    private static int checkHeader(BinaryReader r, String magic, String source) throws IOException {
        byte[] m;
        try {
            m = r.getBytes(8);
        } catch (java.io.EOFException e) {
            throw new ModelFormatException(source + " is shorter than a model file header: truncated or not a Freshet model file");
        }
        if (!Arrays.equals(m, magic.getBytes(StandardCharsets.US_ASCII))) {
            throw new ModelFormatException(source + " does not start with " + magic + " (found '" + new String(m, StandardCharsets.ISO_8859_1)
                    + "'): not a Freshet model file of this kind");
        }
        int version = r.getInt();
        if (version != FORMAT_VERSION) {
            throw new ModelFormatException(source + " is in model format version " + version + ", but this Freshet reads format "
                    + FORMAT_VERSION + " only. Fix: read it with the Freshet release that wrote it, or re-export the model from a checkpoint this release wrote.");
        }
        return version;
    }

    static void writeConfig(BinaryWriter w, ModelConfig c) throws IOException {
        w.putInt(c.tables().size());
        for (TableSpec t : c.tables()) {
            w.putString(t.name());
            w.putLong(t.rows());
            w.putInt(t.dim());
        }
        w.putInt(c.numDense());
        w.putInt(c.embeddingDim());
        writeInts(w, c.bottomMlp());
        writeInts(w, c.topMlp());
        writeOptimizer(w, c.embeddingOptimizer());
        writeOptimizer(w, c.denseOptimizer());
        w.putInt(c.batchSize());
        w.putLong(c.seed());
        w.putString(c.precision().name());
    }

    static ModelConfig readConfig(BinaryReader r, String source) throws IOException {
        int n = count(r.getInt(), 1 << 16, "tables", source);
        List<TableSpec> tables = new ArrayList<>();
        try {
            for (int i = 0; i < n; i++) tables.add(new TableSpec(r.getString(), r.getLong(), r.getInt()));
            int numDense = r.getInt();
            int dim = r.getInt();
            List<Integer> bottom = readInts(r, source);
            List<Integer> top = readInts(r, source);
            OptimizerSpec emb = readOptimizer(r, source);
            OptimizerSpec dense = readOptimizer(r, source);
            int batch = r.getInt();
            long seed = r.getLong();
            Precision precision = enumByName(Precision.class, r.getString(), source);
            return new ModelConfig(tables, numDense, dim, bottom, top, emb, dense, batch, seed, precision);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source + " holds an invalid model config: " + e.getMessage(), e);
        }
    }

    private static void writeOptimizer(BinaryWriter w, OptimizerSpec o) throws IOException {
        w.putString(o.kind().name());
        w.putFloat(o.learningRate());
        w.putFloat(o.eps());
        w.putFloat(o.beta1());
        w.putFloat(o.beta2());
        w.putFloat(o.initialAccumulator());
    }

    private static OptimizerSpec readOptimizer(BinaryReader r, String source) throws IOException {
        OptimizerKind kind = enumByName(OptimizerKind.class, r.getString(), source);
        return new OptimizerSpec(kind, r.getFloat(), r.getFloat(), r.getFloat(), r.getFloat(), r.getFloat());
    }

    private static void writeInts(BinaryWriter w, List<Integer> values) throws IOException {
        w.putInt(values.size());
        for (int v : values) w.putInt(v);
    }

    private static List<Integer> readInts(BinaryReader r, String source) throws IOException {
        int n = count(r.getInt(), 1 << 10, "layer widths", source);
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(r.getInt());
        return out;
    }

    private static void writeStringMap(BinaryWriter w, Map<String, String> m) throws IOException {
        w.putInt(m.size());
        for (Map.Entry<String, String> e : new TreeMap<>(m).entrySet()) {
            w.putString(e.getKey());
            w.putString(e.getValue());
        }
    }

    private static Map<String, String> readStringMap(BinaryReader r) throws IOException {
        int n = count(r.getInt(), 1 << 20, "metadata entries", "manifest");
        Map<String, String> m = new TreeMap<>();
        for (int i = 0; i < n; i++) m.put(r.getString(), r.getString());
        return m;
    }

    private static <E extends Enum<E>> E enumByName(Class<E> type, String name, String source) throws ModelFormatException {
        try {
            return Enum.valueOf(type, name);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source + " names " + type.getSimpleName() + " '" + name + "', which this Freshet does not know; allowed "
                    + Arrays.toString(type.getEnumConstants()) + ". Fix: read it with the Freshet release that wrote it.");
        }
    }

    private static int tableIndex(String fileName, ModelConfig config) throws ModelFormatException {
        for (int i = 0; i < config.numTables(); i++) {
            if (tableFile(i).equals(fileName)) return i;
        }
        throw new ModelFormatException("manifest lists unknown file " + fileName);
    }

    private static int count(int n, int max, String what, String source) throws ModelFormatException {
        if (n < 0 || n > max) throw new ModelFormatException(source + ": " + n + " " + what + " is out of range 0.." + max + ": corrupt data");
        return n;
    }

    private static void syncDirectory(Path dir) throws IOException {
        // On Linux a directory is synced through a read-only channel; elsewhere this may be refused, which is harmless.
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException e) {
            if (!System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("win")) throw e;
        }
    }

    /** Syncs a directory entry (after creating or renaming something in it) so the change survives a power cut. */
    public static void fsyncDirectory(Path dir) throws IOException {
        syncDirectory(dir);
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 missing from this JVM", e);
        }
    }
}
