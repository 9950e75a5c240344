package dev.freshet.trainer;

/**
 * One fully connected layer inside {@link DenseParameters}' flat array: weight [out, in] row-major
 * (as torch.nn.Linear) at {@code weightOffset}, bias [out] at {@code biasOffset}.
 *
 * @param name "bottom.0" ... "top.4"
 * @param relu whether a ReLU follows (every layer but the top MLP's last)
 */
public record LayerShape(String name, int in, int out, int weightOffset, int biasOffset, boolean relu) {
    public int parameterCount() {
        return in * out + out;
    }
}
