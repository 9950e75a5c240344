package dev.freshet.trainer;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The MLP weights of a DLRM model (bottom then top layers) in one flat fp32 array, with the dense
 * optimizer's state beside them. Flat so that a backend moves them to and from the GPU, a checkpoint
 * and a model update in one copy; {@link #layers()} says where each layer sits.
 */
public final class DenseParameters {
    private final List<LayerShape> layers;
    private final int bottomLayers;
    private final float[] values;
    /** Optimizer state: Adagrad's accumulator or Adam's first moment; empty for SGD. */
    private final float[] slot1;
    /** Adam's second moment; empty otherwise. */
    private final float[] slot2;
    /** Adam's step count (bias correction); 0 otherwise. */
    private long step;

    public DenseParameters(ModelConfig config) {
        Objects.requireNonNull(config, "config");
        List<LayerShape> shapes = new ArrayList<>();
        int offset = 0;
        int in = config.numDense();
        for (int i = 0; i < config.bottomMlp().size(); i++) {
            int out = config.bottomMlp().get(i);
            shapes.add(new LayerShape("bottom." + i, in, out, offset, offset + in * out, true));
            offset += in * out + out;
            in = out;
        }
        in = config.topInputWidth();
        for (int i = 0; i < config.topMlp().size(); i++) {
            int out = config.topMlp().get(i);
            boolean last = i == config.topMlp().size() - 1;
            shapes.add(new LayerShape("top." + i, in, out, offset, offset + in * out, !last));
            offset += in * out + out;
            in = out;
        }
        this.layers = List.copyOf(shapes);
        this.bottomLayers = config.bottomMlp().size();
        this.values = new float[offset];
        int slots = config.denseOptimizer().denseSlots();
        this.slot1 = new float[slots >= 1 ? offset : 0];
        this.slot2 = new float[slots >= 2 ? offset : 0];
        if (slots >= 1 && config.denseOptimizer().kind() == OptimizerKind.ADAGRAD) {
            java.util.Arrays.fill(slot1, config.denseOptimizer().initialAccumulator());
        }
    }

    public List<LayerShape> layers() {
        return layers;
    }

    public List<LayerShape> bottom() {
        return layers.subList(0, bottomLayers);
    }

    public List<LayerShape> top() {
        return layers.subList(bottomLayers, layers.size());
    }

    /** All weights and biases; layer i's weight is at {@code layers().get(i).weightOffset()}. Mutable. */
    public float[] values() {
        return values;
    }

    public float[] slot1() {
        return slot1;
    }

    public float[] slot2() {
        return slot2;
    }

    public long step() {
        return step;
    }

    public void setStep(long step) {
        this.step = step;
    }

    public int size() {
        return values.length;
    }

    /** A deep copy (weights and optimizer state). */
    public DenseParameters copyInto(DenseParameters target) {
        if (target.values.length != values.length || target.slot1.length != slot1.length || target.slot2.length != slot2.length) {
            throw new IllegalArgumentException("dense parameter shapes differ: " + values.length + " vs " + target.values.length);
        }
        System.arraycopy(values, 0, target.values, 0, values.length);
        System.arraycopy(slot1, 0, target.slot1, 0, slot1.length);
        System.arraycopy(slot2, 0, target.slot2, 0, slot2.length);
        target.step = step;
        return target;
    }
}
