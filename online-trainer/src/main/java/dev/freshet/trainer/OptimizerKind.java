package dev.freshet.trainer;

/**
 * Update rules. Embeddings use {@link #ROWWISE_ADAGRAD} (one accumulator per row: the mean of the squared
 * row gradient, as in TorchRec/FBGEMM) or {@link #SGD}; dense layers use {@link #ADAGRAD}, {@link #ADAM}
 * (Kingma and Ba, 2015) or {@link #SGD}.
 */
public enum OptimizerKind { SGD, ADAGRAD, ROWWISE_ADAGRAD, ADAM }
