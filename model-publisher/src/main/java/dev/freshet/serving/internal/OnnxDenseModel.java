package dev.freshet.serving.internal;

import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.TranslateException;
import ai.djl.translate.Translator;
import ai.djl.translate.TranslatorContext;
import dev.freshet.publisher.OnnxExport;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One version's dense part (the {@link OnnxExport} graph) loaded into DJL's ONNX Runtime engine. DJL
 * predictors are not thread-safe, so each request borrows one from a pool; the ONNX Runtime session
 * underneath is shared. Owns the DJL model: {@link #close()} is idempotent and use after it throws.
 */
public final class OnnxDenseModel implements AutoCloseable {
    static {
        // DJL must never reach for the network: the ONNX Runtime native library ships inside its jar, and in
        // offline mode DJL neither downloads engines nor calls the cloud metadata endpoint on first use.
        System.setProperty("ai.djl.offline", "true");
        System.setProperty("OPT_OUT_TRACKING", "true");
        System.setProperty("ai.djl.default_engine", "OnnxRuntime");
    }

    /** A batch of pooled embeddings [count, T, D] and dense features [count, numDense], row-major. */
    public record Batch(float[] embeddings, float[] dense, int count) {
    }

    private final String name;
    private final Model model;
    private final int tables;
    private final int dim;
    private final int numDense;
    private final ConcurrentLinkedQueue<Predictor<Batch, float[]>> pool = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean closed = new AtomicBoolean();

    public OnnxDenseModel(byte[] onnx, String name, int tables, int dim, int numDense) {
        Objects.requireNonNull(onnx, "onnx");
        this.tables = tables;
        this.dim = dim;
        this.numDense = numDense;
        this.name = name;
        this.model = Model.newInstance(name, "OnnxRuntime");
        // From a file of our own, deleted once the session holds the graph, rather than DJL's load(InputStream): that
        // leaves an empty /tmp/ort-model* directory per load, deleted only at exit and listed for it until then, and
        // a replica loads a version per DELTA (hundreds of thousands a day at the embedded 250 ms).
        Path file = null;
        try {
            file = Files.createTempFile("freshet-dense-", ".onnx");
            Files.write(file, onnx);
            model.load(file, null, Map.of());
        } catch (IOException | MalformedModelException | RuntimeException e) {
            model.close();
            throw new IllegalStateException("ONNX Runtime refused the dense model of " + name + " (" + onnx.length
                    + " bytes): " + e.getMessage(), e);
        } finally {
            deleteQuietly(file);
        }
    }

    private static void deleteQuietly(Path file) {
        if (file == null) return;
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            // the session already holds the graph; a leftover temporary file is all this costs
        }
    }

    /** Probabilities of the {@code batch.count} examples, in a new array. */
    public float[] predict(Batch batch) {
        if (closed.get()) throw new IllegalStateException("dense model " + name + " is closed");
        if (batch.embeddings().length < batch.count() * tables * dim || batch.dense().length < batch.count() * numDense) {
            throw new IllegalArgumentException("batch of " + batch.count() + " has " + batch.embeddings().length
                    + " embedding and " + batch.dense().length + " dense floats; needs " + batch.count() * tables * dim
                    + " and " + batch.count() * numDense);
        }
        Predictor<Batch, float[]> p = pool.poll();
        if (p == null) p = model.newPredictor(new BatchTranslator());
        try {
            return p.predict(batch);
        } catch (TranslateException e) {
            throw new IllegalStateException("ONNX Runtime failed on a batch of " + batch.count() + ": " + e.getMessage(), e);
        } finally {
            pool.offer(p);
        }
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) return;
        Predictor<Batch, float[]> p;
        while ((p = pool.poll()) != null) p.close();
        model.close();
    }

    private final class BatchTranslator implements Translator<Batch, float[]> {
        /** The batch is already one tensor; DJL's default stacking would need an engine that can stack. */
        @Override
        public ai.djl.translate.Batchifier getBatchifier() {
            return null;
        }

        @Override
        public NDList processInput(TranslatorContext ctx, Batch batch) {
            NDManager m = ctx.getNDManager();
            NDArray emb = m.create(java.nio.FloatBuffer.wrap(batch.embeddings(), 0, batch.count() * tables * dim),
                    new Shape(batch.count(), tables, dim));
            emb.setName(OnnxExport.INPUT_EMBEDDINGS);
            NDArray dense = m.create(java.nio.FloatBuffer.wrap(batch.dense(), 0, batch.count() * numDense),
                    new Shape(batch.count(), numDense));
            dense.setName(OnnxExport.INPUT_DENSE);
            return new NDList(emb, dense);
        }

        @Override
        public float[] processOutput(TranslatorContext ctx, NDList list) {
            return list.get(0).toFloatArray();
        }
    }
}
