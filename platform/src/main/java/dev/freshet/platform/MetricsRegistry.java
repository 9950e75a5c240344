package dev.freshet.platform;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.DoubleSupplier;
import java.util.function.LongSupplier;

/**
 * The metrics of every component in one place, written out in the Prometheus text exposition format
 * (version 0.0.4) for {@code /metrics}. Components keep their own counters (the trainer counts its
 * examples, the producer its records); the platform registers a supplier that reads each one, so no
 * component module depends on this registry. Counters the platform itself owns are {@link LongAdder}s
 * handed out by {@link #counter}.
 *
 * <p>Thread-safe: registration and {@link #scrape()} may happen from any thread. Suppliers are read on
 * the scraping thread and must be cheap and non-blocking (a volatile read, an atomic).
 */
public final class MetricsRegistry {
    /** Prometheus metric and label names. */
    private static final String NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
    private static final String LABEL = "[a-zA-Z_][a-zA-Z0-9_]*";

    public enum Type { COUNTER, GAUGE }

    private record Family(String name, Type type, String help, Map<String, DoubleSupplier> series) {
    }

    private final Map<String, Family> families = new TreeMap<>();

    private final Map<String, LongAdder> owned = new LinkedHashMap<>();

    /** A counter the caller increments; asking again for the same name and labels returns the same adder. */
    public synchronized LongAdder counter(String name, String help, Map<String, String> labels) {
        LongAdder existing = owned.get(name + labelText(labels));
        if (existing != null) {
            return existing;
        }
        LongAdder adder = new LongAdder();
        register(name, Type.COUNTER, help, labels, adder::sum);
        owned.put(name + labelText(labels), adder);
        return adder;
    }

    public LongAdder counter(String name, String help) {
        return counter(name, help, Map.of());
    }

    /** A counter kept by a component: {@code value} reads it (monotonic, e.g. records sent). */
    public void counter(String name, String help, Map<String, String> labels, LongSupplier value) {
        Objects.requireNonNull(value, "value");
        register(name, Type.COUNTER, help, labels, value::getAsLong);
    }

    /** A value that goes up and down (model version, AUC, lag); NaN is written as Prometheus' NaN. */
    public void gauge(String name, String help, Map<String, String> labels, DoubleSupplier value) {
        Objects.requireNonNull(value, "value");
        register(name, Type.GAUGE, help, labels, value);
    }

    public void gauge(String name, String help, DoubleSupplier value) {
        gauge(name, help, Map.of(), value);
    }

    private synchronized void register(String name, Type type, String help, Map<String, String> labels, DoubleSupplier value) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(help, "help");
        Objects.requireNonNull(labels, "labels");
        if (!name.matches(NAME)) {
            throw new IllegalArgumentException("metric name '" + name + "' is not a Prometheus name (" + NAME + ")");
        }
        if (type == Type.COUNTER && !name.endsWith("_total")) {
            throw new IllegalArgumentException("counter '" + name + "' must end in _total (Prometheus naming convention)");
        }
        labels.keySet().forEach(l -> {
            if (!l.matches(LABEL)) {
                throw new IllegalArgumentException("label name '" + l + "' of metric " + name + " is not a Prometheus label name (" + LABEL + ")");
            }
        });
        Family family = families.computeIfAbsent(name, n -> new Family(n, type, help, new TreeMap<>()));
        if (family.type() != type) {
            throw new IllegalArgumentException("metric " + name + " is already registered as a " + family.type().name().toLowerCase(Locale.ROOT)
                    + "; cannot register it as a " + type.name().toLowerCase(Locale.ROOT));
        }
        String series = labelText(labels);
        if (family.series().containsKey(series)) {
            throw new IllegalArgumentException("metric " + name + series + " is already registered. Fix: give each series its own labels.");
        }
        family.series().put(series, value);
    }

    /** Every series' current value, keyed {@code name{labels}}, for the status page and tests. */
    public synchronized Map<String, Double> snapshot() {
        Map<String, Double> out = new LinkedHashMap<>();
        for (Family f : families.values()) {
            f.series().forEach((labels, v) -> out.put(f.name() + labels, v.getAsDouble()));
        }
        return out;
    }

    /** The value of one series, or NaN when no such series is registered. */
    public synchronized double value(String name, Map<String, String> labels) {
        Family f = families.get(name);
        DoubleSupplier v = f == null ? null : f.series().get(labelText(labels));
        return v == null ? Double.NaN : v.getAsDouble();
    }

    public double value(String name) {
        return value(name, Map.of());
    }

    /** The Prometheus text format: HELP and TYPE lines, then one line per series. */
    public String scrape() {
        List<Family> copy;
        synchronized (this) {
            copy = new ArrayList<>();
            for (Family f : families.values()) {
                copy.add(new Family(f.name(), f.type(), f.help(), new TreeMap<>(f.series())));
            }
        }
        StringBuilder sb = new StringBuilder(4096);
        for (Family f : copy) {
            sb.append("# HELP ").append(f.name()).append(' ').append(escapeHelp(f.help())).append('\n');
            sb.append("# TYPE ").append(f.name()).append(' ').append(f.type().name().toLowerCase(Locale.ROOT)).append('\n');
            f.series().forEach((labels, v) -> sb.append(f.name()).append(labels).append(' ').append(format(v.getAsDouble())).append('\n'));
        }
        return sb.toString();
    }

    private static String labelText(Map<String, String> labels) {
        if (labels.isEmpty()) {
            return "";
        }
        StringBuilder sb = new StringBuilder("{");
        new TreeMap<>(labels).forEach((k, v) -> {
            if (sb.length() > 1) sb.append(',');
            sb.append(k).append("=\"").append(v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")).append('"');
        });
        return sb.append('}').toString();
    }

    private static String escapeHelp(String help) {
        return help.replace("\\", "\\\\").replace("\n", "\\n");
    }

    /** Integers without a fraction (counters read naturally), NaN and infinities as Prometheus spells them. */
    static String format(double v) {
        if (Double.isNaN(v)) return "NaN";
        if (Double.isInfinite(v)) return v > 0 ? "+Inf" : "-Inf";
        if (v == Math.rint(v) && Math.abs(v) < 1e15) return Long.toString((long) v);
        return Double.toString(v);
    }
}
