package dev.freshet.trainer.checkpoint;

import java.io.IOException;

/** A model file that is not Freshet's, of an unknown format version, truncated, or failing its SHA-256. */
public final class ModelFormatException extends IOException {
    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
