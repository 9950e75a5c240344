package dev.freshet.ingest.internal;

import java.io.PrintStream;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * A one-line progress report (events, events/s, bytes, rejects) printed at most once per second. On a
 * terminal it rewrites itself with a carriage return; into a file or pipe each report is its own line.
 */
public final class ProgressLine {
    private static final long INTERVAL_NANOS = 1_000_000_000L;

    private final PrintStream out;
    private final LongSupplier nanoTime;
    private final boolean terminal;
    private final String label;
    private final long startNanos;
    private long lastNanos;
    private long lastEvents;
    private boolean printed;

    public ProgressLine(String label, PrintStream out, LongSupplier nanoTime, boolean terminal) {
        this.label = label;
        this.out = out;
        this.nanoTime = nanoTime;
        this.terminal = terminal;
        this.startNanos = nanoTime.getAsLong();
        this.lastNanos = startNanos;
    }

    /** Prints if a second has passed since the last report; cheap to call per event. */
    public void update(long events, long bytes, long rejects) {
        long now = nanoTime.getAsLong();
        if (now - lastNanos < INTERVAL_NANOS) {
            return;
        }
        double rate = (events - lastEvents) * 1e9 / (now - lastNanos);
        lastNanos = now;
        lastEvents = events;
        print(events, rate, bytes, rejects, false);
    }

    /** The final report: the average rate over the whole run. */
    public void finish(long events, long bytes, long rejects) {
        long elapsed = Math.max(1, nanoTime.getAsLong() - startNanos);
        print(events, events * 1e9 / elapsed, bytes, rejects, true);
    }

    private void print(long events, double rate, long bytes, long rejects, boolean last) {
        String text = String.format(Locale.ROOT, "%s: %,d events  %,.0f events/s  %s  %,d rejects", label, events, rate, bytes(bytes), rejects);
        if (terminal) {
            out.print("\r" + text + "\u001b[K" + (last ? "\n" : ""));
        } else {
            out.println(text);
        }
        out.flush();
        printed = true;
    }

    public boolean printedAny() {
        return printed;
    }

    static String bytes(long n) {
        if (n < 1024) return n + " B";
        if (n < 1024L * 1024) return String.format(Locale.ROOT, "%.1f KiB", n / 1024.0);
        if (n < 1024L * 1024 * 1024) return String.format(Locale.ROOT, "%.1f MiB", n / (1024.0 * 1024));
        return String.format(Locale.ROOT, "%.2f GiB", n / (1024.0 * 1024 * 1024));
    }
}
