package dev.freshet.serving;

import dev.freshet.publisher.OnnxExport;
import dev.freshet.serving.internal.OnnxDenseModel;
import dev.freshet.trainer.DenseParameters;
import dev.freshet.trainer.LayerShape;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.OptimizerKind;
import dev.freshet.trainer.OptimizerSpec;
import dev.freshet.trainer.Precision;
import dev.freshet.trainer.TableSpec;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The exported ONNX graph, run by DJL's ONNX Runtime engine, against a plain double-precision DLRM forward. */
class OnnxDenseModelTest {

    static ModelConfig smallConfig(int tables, int dim) {
        List<TableSpec> specs = new java.util.ArrayList<>();
        for (int t = 0; t < tables; t++) specs.add(new TableSpec("C" + (t + 1), 50 + t, dim));
        return new ModelConfig(specs, 5, dim, List.of(8, dim), List.of(16, 8, 1),
                OptimizerSpec.of(OptimizerKind.ROWWISE_ADAGRAD, 0.05f), OptimizerSpec.of(OptimizerKind.ADAGRAD, 0.01f),
                64, 7, Precision.FP32);
    }

    @Test
    void onnxRuntimeMatchesReferenceForward() {
        ModelConfig config = smallConfig(3, 4);
        Random rnd = new Random(11);
        float[] w = new float[new DenseParameters(config).size()];
        for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextGaussian() * 0.3);
        int b = 37;
        float[] emb = new float[b * 3 * 4];
        float[] dense = new float[b * 5];
        for (int i = 0; i < emb.length; i++) emb[i] = (float) rnd.nextGaussian();
        for (int i = 0; i < dense.length; i++) dense[i] = (float) rnd.nextGaussian();

        byte[] onnx = OnnxExport.export(config, w, "test", 1);
        try (OnnxDenseModel model = new OnnxDenseModel(onnx, "test", 3, 4, 5)) {
            float[] p = model.predict(new OnnxDenseModel.Batch(emb, dense, b));
            assertEquals(b, p.length);
            for (int i = 0; i < b; i++) {
                assertEquals(reference(config, w, emb, dense, i), p[i], 1e-5, "example " + i);
            }
            float[] one = model.predict(new OnnxDenseModel.Batch(emb, dense, 1));
            assertEquals(p[0], one[0], 1e-6);
            assertEquals(true, ai.djl.util.Utils.isOfflineMode(), "DJL runs offline: no downloads, no calls home");
        }
    }

    @Test
    void closedModelRefusesUse() {
        ModelConfig config = smallConfig(2, 4);
        byte[] onnx = OnnxExport.export(config, new float[new DenseParameters(config).size()], "test", 1);
        OnnxDenseModel model = new OnnxDenseModel(onnx, "test", 2, 4, 5);
        model.close();
        model.close();
        assertThrows(IllegalStateException.class, () -> model.predict(new OnnxDenseModel.Batch(new float[8], new float[5], 1)));
    }

    /**
     * A replica loads a model per DELTA: loading leaves nothing in the temporary directory (DJL's stream load left an
     * empty ort-model* directory per model until the JVM exited).
     */
    @Test
    void loadingLeavesNoTemporaryFiles() throws java.io.IOException {
        ModelConfig config = smallConfig(2, 4);
        byte[] onnx = OnnxExport.export(config, new float[new DenseParameters(config).size()], "test", 1);
        java.nio.file.Path tmp = java.nio.file.Path.of(System.getProperty("java.io.tmpdir"));
        long before = ours(tmp);
        for (int i = 0; i < 5; i++) {
            try (OnnxDenseModel model = new OnnxDenseModel(onnx, "v" + i, 2, 4, 5)) {
                assertEquals(1, model.predict(new OnnxDenseModel.Batch(new float[8], new float[5], 1)).length);
            }
        }
        assertEquals(before, ours(tmp), "temporary files or directories left by 5 model loads");
    }

    private static long ours(java.nio.file.Path tmp) throws java.io.IOException {
        try (java.util.stream.Stream<java.nio.file.Path> s = java.nio.file.Files.list(tmp)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("ort-model") || n.startsWith("freshet-dense-")).count();
        }
    }

    /** DLRM forward in doubles: bottom MLP, dots of (x, e_1..e_T) for i > j, top MLP, sigmoid. */
    static double reference(ModelConfig config, float[] w, float[] emb, float[] dense, int example) {
        DenseParameters shapes = new DenseParameters(config);
        int nd = config.numDense();
        int t = config.numTables();
        int d = config.embeddingDim();
        double[] h = new double[nd];
        for (int i = 0; i < nd; i++) h[i] = dense[example * nd + i];
        for (LayerShape l : shapes.bottom()) h = layer(l, w, h);
        int f = t + 1;
        double[][] z = new double[f][];
        z[0] = h;
        for (int k = 0; k < t; k++) {
            z[k + 1] = new double[d];
            for (int j = 0; j < d; j++) z[k + 1][j] = emb[(example * t + k) * d + j];
        }
        double[] top = new double[d + f * (f - 1) / 2];
        System.arraycopy(h, 0, top, 0, d);
        int p = d;
        for (int i = 1; i < f; i++) {
            for (int j = 0; j < i; j++) {
                double s = 0;
                for (int k = 0; k < d; k++) s += z[i][k] * z[j][k];
                top[p++] = s;
            }
        }
        for (LayerShape l : shapes.top()) top = layer(l, w, top);
        return 1 / (1 + Math.exp(-top[0]));
    }

    private static double[] layer(LayerShape l, float[] w, double[] in) {
        double[] out = new double[l.out()];
        for (int o = 0; o < l.out(); o++) {
            double s = w[l.biasOffset() + o];
            for (int i = 0; i < l.in(); i++) s += w[l.weightOffset() + o * l.in() + i] * in[i];
            out[o] = l.relu() ? Math.max(0, s) : s;
        }
        return out;
    }
}
