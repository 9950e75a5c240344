package dev.freshet.config;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;

/**
 * The one loader for every component's settings. Precedence, lowest first: declared default, the
 * config file ({@code key = value} properties), environment ({@code FRESHET_KEY_NAME}), command-line
 * overrides ({@code --set key=value}). The embedded demo and the distributed deployment read the same
 * file; only addresses differ.
 */
public final class ConfigSource {
    private final Map<String, String> values;
    private final Map<String, String> origins;

    private ConfigSource(Map<String, String> values, Map<String, String> origins) {
        this.values = Map.copyOf(values);
        this.origins = Map.copyOf(origins);
    }

    public static ConfigSource empty() {
        return new ConfigSource(Map.of(), Map.of());
    }

    public static ConfigSource of(Map<String, String> values) {
        Objects.requireNonNull(values, "values");
        Map<String, String> origins = new TreeMap<>();
        values.keySet().forEach(k -> origins.put(k, "code"));
        return new ConfigSource(values, origins);
    }

    /**
     * @param file      a properties file, or null for none
     * @param env       the process environment (only {@code FRESHET_*} entries matter)
     * @param overrides {@code key=value} strings from the command line
     * @param declared  every setting the program knows, so that env names map back to keys
     */
    public static ConfigSource load(Path file, Map<String, String> env, List<String> overrides,
                                    Collection<Setting<?>> declared) {
        Map<String, String> values = new TreeMap<>();
        Map<String, String> origins = new TreeMap<>();
        if (file != null) {
            if (!Files.isRegularFile(file)) {
                throw new ConfigException("config file " + file + " does not exist or is not a file. Fix: pass an existing file with --config, or leave --config out to use the defaults.");
            }
            Properties p = new Properties();
            try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
                p.load(r);
            } catch (IOException | IllegalArgumentException e) {
                throw new ConfigException("cannot read config file " + file + ": " + e.getMessage(), e);
            }
            for (String k : p.stringPropertyNames()) {
                values.put(k, p.getProperty(k).trim());
                origins.put(k, file.toString());
            }
        }
        for (Setting<?> s : declared) {
            String v = env.get(s.envName());
            if (v != null) {
                values.put(s.key(), v);
                origins.put(s.key(), "env " + s.envName());
            }
        }
        for (String o : overrides) {
            int eq = o.indexOf('=');
            if (eq <= 0) {
                throw new ConfigException("override '" + o + "' is not key=value. Fix: write --set trainer.batch-size=4096.");
            }
            values.put(o.substring(0, eq).trim(), o.substring(eq + 1).trim());
            origins.put(o.substring(0, eq).trim(), "--set");
        }
        ConfigSource source = new ConfigSource(values, origins);
        source.rejectUnknown(declared);
        return source;
    }

    /** The setting's value: given, else its default; validated. */
    public <T> T get(Setting<T> setting) {
        String text = values.get(setting.key());
        if (text == null) {
            if (setting.required()) {
                throw new ConfigException("setting " + setting.key() + " is required (" + setting.doc() + "). Fix: set "
                        + setting.key() + " in the config file, with --set " + setting.key() + "=VALUE or " + setting.envName() + "=VALUE.");
            }
            text = setting.defaultText();
        }
        return setting.parse(text);
    }

    public boolean isSet(Setting<?> setting) {
        return values.containsKey(setting.key());
    }

    /** A copy with {@code key} set to {@code value} (as if given last on the command line). */
    public ConfigSource with(String key, String value) {
        Map<String, String> v = new TreeMap<>(values);
        Map<String, String> o = new TreeMap<>(origins);
        v.put(key, value);
        o.put(key, "code");
        return new ConfigSource(v, o);
    }

    public <T> ConfigSource with(Setting<T> setting, String value) {
        return with(setting.key(), value);
    }

    /** Every explicitly given key and value, for logging and provenance. */
    public Map<String, String> values() {
        return values;
    }

    /** Fails on a key that no declared setting has: a typo should never be silently ignored. */
    public void rejectUnknown(Collection<Setting<?>> declared) {
        Set<String> known = declared.stream().map(Setting::key).collect(Collectors.toSet());
        Set<String> unknown = new TreeSet<>(values.keySet());
        unknown.removeIf(k -> known.contains(k) || isDynamicKey(k, known));
        if (!unknown.isEmpty()) {
            String k = unknown.iterator().next();
            throw new ConfigException("unknown setting " + k + " (from " + origins.get(k) + "). Fix: check the spelling against "
                    + "`freshet settings`, or remove it. Unknown keys: " + unknown);
        }
    }

    /** Keys such as {@code features.table.C3.rows} belong to a declared family {@code features.table.*}. */
    private static boolean isDynamicKey(String key, Set<String> known) {
        for (String k : known) {
            if (k.endsWith(".*") && key.startsWith(k.substring(0, k.length() - 1))) {
                return true;
            }
        }
        return false;
    }
}
