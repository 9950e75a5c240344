package dev.freshet.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * One declaration per setting: its key, type, default, validation and one line of doc, in one place
 * (after Kafka's {@code ConfigDef}). Component configs declare their settings as constants and read
 * them through {@link ConfigSource#get(Setting)}; the README's settings table is generated from the
 * same declarations.
 *
 * @param key          dotted key, e.g. {@code trainer.batch-size}; env form {@code FRESHET_TRAINER_BATCH_SIZE}
 * @param type         a short type name for docs ("int", "duration", ...)
 * @param defaultText  the default as it would be written in a config file; null means required
 * @param allowed      the allowed range in words ("1..65536"), used in docs and errors
 * @param doc          one line saying what the setting does
 */
public record Setting<T>(String key, String type, String defaultText, String allowed, String doc,
                         Function<String, T> parser, Predicate<T> valid) {

    public Setting {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(allowed, "allowed");
        Objects.requireNonNull(doc, "doc");
        Objects.requireNonNull(parser, "parser");
        Objects.requireNonNull(valid, "valid");
        if (!key.matches("[a-z][a-z0-9-]*(\\.[a-z0-9][a-z0-9-]*)*")) {
            throw new IllegalArgumentException("setting key '" + key + "' must be lower-case dotted words");
        }
    }

    /** Parses and validates {@code text} as this setting's value, naming key, value, range and a fix on failure. */
    public T parse(String text) {
        T value;
        try {
            value = parser.apply(text.trim());
        } catch (RuntimeException e) {
            throw invalid(text, e.getMessage());
        }
        if (value == null || !valid.test(value)) {
            throw invalid(text, null);
        }
        return value;
    }

    public boolean required() {
        return defaultText == null;
    }

    /** The environment variable that overrides this setting. */
    public String envName() {
        return "FRESHET_" + key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
    }

    private ConfigException invalid(String text, String why) {
        return new ConfigException("setting " + key + " = '" + text + "' is invalid" + (why == null ? "" : " (" + why + ")")
                + ": allowed " + type + " " + allowed + ". Fix: set " + key + " in the config file, with --set "
                + key + "=VALUE or " + envName() + "=VALUE" + (defaultText == null ? "" : ", or remove it to use the default " + defaultText) + ".");
    }

    public static Setting<Integer> ofInt(String key, int def, int min, int max, String doc) {
        return new Setting<>(key, "int", Integer.toString(def), min + ".." + max, doc,
                s -> Integer.parseInt(s.replace("_", "")), v -> v >= min && v <= max);
    }

    public static Setting<Long> ofLong(String key, long def, long min, long max, String doc) {
        return new Setting<>(key, "long", Long.toString(def), min + ".." + max, doc,
                s -> Long.parseLong(s.replace("_", "")), v -> v >= min && v <= max);
    }

    public static Setting<Double> ofDouble(String key, double def, double min, double max, String doc) {
        return new Setting<>(key, "double", Double.toString(def), min + ".." + max, doc,
                Double::parseDouble, v -> Double.isFinite(v) && v >= min && v <= max);
    }

    public static Setting<Boolean> ofBoolean(String key, boolean def, String doc) {
        return new Setting<>(key, "boolean", Boolean.toString(def), "true|false", doc, s -> {
            if (s.equalsIgnoreCase("true")) return true;
            if (s.equalsIgnoreCase("false")) return false;
            throw new IllegalArgumentException("not a boolean");
        }, v -> true);
    }

    /** A string; {@code def == null} makes it required. */
    public static Setting<String> ofString(String key, String def, String doc) {
        return new Setting<>(key, "string", def, "non-empty text", doc, s -> s, s -> !s.isEmpty());
    }

    public static Setting<Path> ofPath(String key, String def, String doc) {
        return new Setting<>(key, "path", def, "a file system path", doc, Path::of, p -> !p.toString().isEmpty());
    }

    /** A duration written as {@code 500ms}, {@code 5s}, {@code 2m}, {@code 1h} or ISO-8601 ({@code PT5S}). */
    public static Setting<Duration> ofDuration(String key, String def, Duration min, Duration max, String doc) {
        return new Setting<>(key, "duration", def, Durations.format(min) + ".." + Durations.format(max), doc,
                Durations::parse, d -> d.compareTo(min) >= 0 && d.compareTo(max) <= 0);
    }

    public static <E extends Enum<E>> Setting<E> ofEnum(String key, Class<E> type, E def, String doc) {
        E[] values = type.getEnumConstants();
        String allowed = String.join("|", Arrays.stream(values).map(v -> v.name().toLowerCase(Locale.ROOT)).toList());
        return new Setting<>(key, "enum", def == null ? null : def.name().toLowerCase(Locale.ROOT), allowed, doc,
                s -> Enum.valueOf(type, s.toUpperCase(Locale.ROOT).replace('-', '_')), v -> true);
    }
}
