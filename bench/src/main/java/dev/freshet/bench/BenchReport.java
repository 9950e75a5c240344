package dev.freshet.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The one way benchmarks record results: figures added as they are measured, a table printed, and
 * bench/results/&lt;name&gt;.json written as {"command", "machine", "date", "figures": [{"name", "value",
 * "unit", "higher_is_better", "target"}]} with the command that reproduces it.
 */
public final class BenchReport {
    /** One measured number; target is null where there is none. */
    public record Figure(String name, double value, String unit, boolean higherIsBetter, Double target) {
    }

    private final String command;
    private final String machine;
    private final List<Figure> figures = new ArrayList<>();

    public BenchReport(String command, String machine) {
        this.command = command;
        this.machine = machine;
    }

    /** The host name plus the JVM's view of cores and OS, when the caller has nothing better. */
    public static String thisMachine() {
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            host = "unknown-host";
        }
        return host + ", " + Runtime.getRuntime().availableProcessors() + " cores, " + System.getProperty("os.name") + " "
                + System.getProperty("os.arch") + ", Java " + System.getProperty("java.version");
    }

    public BenchReport add(String name, double value, String unit, boolean higherIsBetter, Double target) {
        figures.add(new Figure(name, value, unit, higherIsBetter, target));
        return this;
    }

    public List<Figure> figures() {
        return List.copyOf(figures);
    }

    /** The figures as an aligned text table. */
    public String table() {
        int w = 4;
        for (Figure f : figures) w = Math.max(w, f.name().length());
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-" + w + "s  %16s  %-10s  %16s  %s%n", "name", "value", "unit", "target", "met"));
        for (Figure f : figures) {
            String met = f.target() == null ? "" : ((f.higherIsBetter() ? f.value() >= f.target() : f.value() <= f.target()) ? "yes" : "NO");
            sb.append(String.format(Locale.ROOT, "%-" + w + "s  %16s  %-10s  %16s  %s%n", f.name(), number(f.value()), f.unit(),
                    f.target() == null ? "" : number(f.target()), met));
        }
        return sb.toString();
    }

    /** Prints the table and writes the JSON file. */
    public void write(Path file) {
        System.out.print(table());
        StringBuilder sb = new StringBuilder();
        sb.append("{\n  \"command\": ").append(quote(command)).append(",\n  \"machine\": ").append(quote(machine))
                .append(",\n  \"date\": ").append(quote(Instant.now().toString())).append(",\n  \"figures\": [\n");
        for (int i = 0; i < figures.size(); i++) {
            Figure f = figures.get(i);
            sb.append("    {\"name\": ").append(quote(f.name())).append(", \"value\": ").append(json(f.value()))
                    .append(", \"unit\": ").append(quote(f.unit())).append(", \"higher_is_better\": ").append(f.higherIsBetter())
                    .append(", \"target\": ").append(f.target() == null ? "null" : json(f.target())).append('}')
                    .append(i + 1 < figures.size() ? ",\n" : "\n");
        }
        sb.append("  ]\n}\n");
        try {
            if (file.getParent() != null) Files.createDirectories(file.getParent());
            Files.writeString(file, sb.toString(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write benchmark results to " + file, e);
        }
        System.out.println("wrote " + file);
    }

    private static String number(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) return String.format(Locale.ROOT, "%,d", (long) v);
        return String.format(Locale.ROOT, "%.4g", v);
    }

    private static String json(double v) {
        if (!Double.isFinite(v)) return "null";
        if (v == Math.rint(v) && Math.abs(v) < 1e15) return Long.toString((long) v);
        return Double.toString(v);
    }

    private static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        return sb.append('"').toString();
    }
}
