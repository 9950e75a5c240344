package dev.freshet.config;

/** A setting is missing, malformed, out of range or in conflict with another; the message says how to fix it. */
public final class ConfigException extends RuntimeException {
    public ConfigException(String message) {
        super(message);
    }

    public ConfigException(String message, Throwable cause) {
        super(message, cause);
    }
}
