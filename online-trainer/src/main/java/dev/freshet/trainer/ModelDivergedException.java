package dev.freshet.trainer;

/** A NaN or infinite loss or weight: training must stop and nothing after this point may be published. */
public final class ModelDivergedException extends RuntimeException {
    public ModelDivergedException(String message) {
        super(message);
    }
}
