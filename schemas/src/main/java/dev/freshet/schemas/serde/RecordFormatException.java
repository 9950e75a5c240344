package dev.freshet.schemas.serde;

/** Bytes that are not a valid Freshet record: wrong header, unknown schema, truncated or corrupt body. */
public class RecordFormatException extends RuntimeException {
    public RecordFormatException(String message) {
        super(message);
    }

    public RecordFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
