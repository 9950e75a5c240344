package dev.freshet.publisher;

/** A model store artifact is missing, corrupt, of an unknown format, or outside the store; the message names it. */
public final class ModelStoreException extends RuntimeException {
    public ModelStoreException(String message) {
        super(message);
    }

    public ModelStoreException(String message, Throwable cause) {
        super(message, cause);
    }
}
