package dev.freshet.trainer.model;

import dev.freshet.trainer.LayerShape;

import java.util.List;

/** A stack of {@link Linear} layers: [B][in] -> [B][out of the last layer]. */
final class Mlp {
    private final Linear[] layers;

    Mlp(List<LayerShape> shapes, float[] params, float[] grad, int capacity, boolean bf16, ParallelFor pool) {
        this.layers = new Linear[shapes.size()];
        for (int l = 0; l < layers.length; l++) {
            layers[l] = new Linear(shapes.get(l), params, grad, capacity, bf16, pool);
        }
    }

    void forward(float[][] input, int n) {
        float[][] x = input;
        for (Linear layer : layers) {
            layer.forward(x, n);
            x = layer.y;
        }
    }

    float[][] output() {
        return layers[layers.length - 1].y;
    }

    /** Backward through every layer; dL/d(input) lands in {@link #inputGradient()} if asked for. */
    void backward(float[][] outputGradient, boolean inputGradient) {
        float[][] d = outputGradient;
        for (int l = layers.length - 1; l >= 0; l--) {
            layers[l].backward(d, l > 0 || inputGradient);
            d = layers[l].dx;
        }
    }

    float[][] inputGradient() {
        return layers[0].dx;
    }
}
