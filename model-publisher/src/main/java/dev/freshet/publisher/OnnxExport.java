package dev.freshet.publisher;

import dev.freshet.publisher.internal.ProtoWriter;
import dev.freshet.trainer.DenseParameters;
import dev.freshet.trainer.LayerShape;
import dev.freshet.trainer.ModelConfig;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Objects;

/**
 * The dense part of a DLRM model (Naumov et al., 2019) as an ONNX model (opset 17, IR version 8), so
 * that ONNX Runtime, Triton or any ONNX runtime can serve a Freshet version. Embedding lookups stay
 * outside: the caller pools the rows and passes them in.
 *
 * <pre>
 * inputs:  embeddings [B, T, D]  sum-pooled embedding row of each of the T tables
 *          dense      [B, numDense]  normalised dense features
 * bottom:  Gemm(transB=1) + Relu per layer            -> x [B, D]
 * interaction: Z = Concat(x, embeddings) [B, F, D], F = T + 1; MatMul(Z, Z^T) [B, F, F],
 *          Gather of the i > j pairs in the order (1,0), (2,0), (2,1), (3,0), ... -> [B, F(F-1)/2]
 * top:     Concat(x, dots) [B, D + F(F-1)/2] -> Gemm(+Relu) ... -> logit [B, 1]
 * output:  probability = Sigmoid(logit) [B, 1]
 * </pre>
 *
 * The vector order (bottom output first) and the pair order are those of the DLRM reference code and
 * of the trainer's CPU backend; the parity test holds the two to 1e-5.
 */
public final class OnnxExport {
    public static final String INPUT_EMBEDDINGS = "embeddings";
    public static final String INPUT_DENSE = "dense";
    public static final String OUTPUT_PROBABILITY = "probability";
    public static final int OPSET = 17;
    private static final int IR_VERSION = 8;
    private static final int FLOAT = 1;
    private static final int INT64 = 7;
    private static final int ATTR_INT = 2;
    private static final int ATTR_INTS = 7;

    private OnnxExport() {
    }

    /**
     * The ONNX model of {@code config}'s dense part with weights {@code dense} (in {@link DenseParameters}
     * layout), as the bytes of an ONNX {@code ModelProto}.
     */
    public static byte[] export(ModelConfig config, float[] dense, String modelName, long version) {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(dense, "dense");
        DenseParameters shapes = new DenseParameters(config);
        if (dense.length != shapes.size()) {
            throw new IllegalArgumentException("dense weights have " + dense.length + " floats; the config's MLPs need " + shapes.size());
        }
        int t = config.numTables();
        int d = config.embeddingDim();
        int f = config.numInteractingVectors();
        ProtoWriter graph = new ProtoWriter();
        graph.string(2, "freshet_dlrm_dense");

        String h = INPUT_DENSE;
        h = mlp(graph, shapes.bottom(), dense, h, "bottom");
        String x = h;
        graph.message(5, tensorInt64("unsqueeze_axes", new long[]{1}, new long[]{1}));
        graph.message(1, node("Unsqueeze", "x_3d", List.of(x, "unsqueeze_axes"), List.of("x_3d")));
        graph.message(1, node("Concat", "z", List.of("x_3d", INPUT_EMBEDDINGS), List.of("z")).message(5, intAttr("axis", 1)));
        graph.message(1, node("Transpose", "z_t", List.of("z"), List.of("z_t")).message(5, intsAttr("perm", new long[]{0, 2, 1})));
        graph.message(1, node("MatMul", "gram", List.of("z", "z_t"), List.of("gram")));
        graph.message(5, tensorInt64("gram_flat_shape", new long[]{2}, new long[]{0, (long) f * f}));
        graph.message(1, node("Reshape", "gram_flat", List.of("gram", "gram_flat_shape"), List.of("gram_flat")));
        long[] pairs = new long[f * (f - 1) / 2];
        int p = 0;
        for (int i = 1; i < f; i++) {
            for (int j = 0; j < i; j++) {
                pairs[p++] = (long) i * f + j;
            }
        }
        graph.message(5, tensorInt64("pair_index", new long[]{pairs.length}, pairs));
        graph.message(1, node("Gather", "dots", List.of("gram_flat", "pair_index"), List.of("dots")).message(5, intAttr("axis", 1)));
        graph.message(1, node("Concat", "top_in", List.of(x, "dots"), List.of("top_in")).message(5, intAttr("axis", 1)));
        String logit = mlp(graph, shapes.top(), dense, "top_in", "top");
        graph.message(1, node("Sigmoid", "sigmoid", List.of(logit), List.of(OUTPUT_PROBABILITY)));

        graph.message(11, valueInfo(INPUT_EMBEDDINGS, new Object[]{"batch", (long) t, (long) d}));
        graph.message(11, valueInfo(INPUT_DENSE, new Object[]{"batch", (long) config.numDense()}));
        graph.message(12, valueInfo(OUTPUT_PROBABILITY, new Object[]{"batch", 1L}));

        ProtoWriter model = new ProtoWriter();
        model.int64(1, IR_VERSION);
        model.string(2, "freshet");
        model.string(3, Long.toString(version));
        model.string(4, "dev.freshet");
        model.int64(5, version);
        model.string(6, "DLRM dense part of model '" + modelName + "' version " + version);
        model.message(7, graph);
        model.message(8, new ProtoWriter().string(1, "").int64(2, OPSET));
        return model.toByteArray();
    }

    private static String mlp(ProtoWriter graph, List<LayerShape> layers, float[] dense, String input, String prefix) {
        String h = input;
        for (LayerShape layer : layers) {
            String w = layer.name() + ".weight";
            String b = layer.name() + ".bias";
            graph.message(5, tensorFloat(w, new long[]{layer.out(), layer.in()}, dense, layer.weightOffset(), layer.in() * layer.out()));
            graph.message(5, tensorFloat(b, new long[]{layer.out()}, dense, layer.biasOffset(), layer.out()));
            String out = layer.name() + ".out";
            graph.message(1, node("Gemm", layer.name(), List.of(h, w, b), List.of(out)).message(5, intAttr("transB", 1)));
            h = out;
            if (layer.relu()) {
                String r = layer.name() + ".relu";
                graph.message(1, node("Relu", r, List.of(h), List.of(r)));
                h = r;
            }
        }
        return h;
    }

    private static ProtoWriter node(String op, String name, List<String> inputs, List<String> outputs) {
        ProtoWriter n = new ProtoWriter();
        for (String i : inputs) n.string(1, i);
        for (String o : outputs) n.string(2, o);
        n.string(3, name);
        n.string(4, op);
        return n;
    }

    private static ProtoWriter intAttr(String name, long value) {
        return new ProtoWriter().string(1, name).int64(3, value).int64(20, ATTR_INT);
    }

    private static ProtoWriter intsAttr(String name, long[] values) {
        ProtoWriter a = new ProtoWriter().string(1, name);
        for (long v : values) a.int64(8, v);
        return a.int64(20, ATTR_INTS);
    }

    private static ProtoWriter tensorFloat(String name, long[] dims, float[] src, int offset, int count) {
        ByteBuffer raw = ByteBuffer.allocate(count * 4).order(ByteOrder.LITTLE_ENDIAN);
        raw.asFloatBuffer().put(src, offset, count);
        ProtoWriter t = new ProtoWriter();
        for (long d : dims) t.int64(1, d);
        return t.int64(2, FLOAT).string(8, name).bytes(9, raw.array());
    }

    private static ProtoWriter tensorInt64(String name, long[] dims, long[] values) {
        ByteBuffer raw = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        raw.asLongBuffer().put(values);
        ProtoWriter t = new ProtoWriter();
        for (long d : dims) t.int64(1, d);
        return t.int64(2, INT64).string(8, name).bytes(9, raw.array());
    }

    /** A float tensor's ValueInfoProto; each dim is a Long (fixed) or a String (symbolic). */
    private static ProtoWriter valueInfo(String name, Object[] dims) {
        ProtoWriter shape = new ProtoWriter();
        for (Object d : dims) {
            ProtoWriter dim = new ProtoWriter();
            if (d instanceof Long v) dim.int64(1, v);
            else dim.string(2, (String) d);
            shape.message(1, dim);
        }
        ProtoWriter tensorType = new ProtoWriter().int64(1, FLOAT).message(2, shape);
        ProtoWriter type = new ProtoWriter().message(1, tensorType);
        return new ProtoWriter().string(1, name).message(2, type);
    }
}
