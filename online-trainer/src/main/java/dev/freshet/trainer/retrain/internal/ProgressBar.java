package dev.freshet.trainer.retrain.internal;

import java.io.PrintStream;
import java.util.Locale;
import java.util.Objects;
import java.util.function.LongSupplier;

/**
 * The retrain's progress line on stderr: examples done of the total, the pass, the rate and an ETA.
 * On a terminal it redraws one line with {@code \r} at most every {@code redrawNanos}; into a file or
 * a pipe (no console) it writes a full line at most every {@code lineNanos}, so logs stay readable.
 *
 * <pre>
 * retrain [##########----------]  52% pass 2/3  1,040,000/2,000,000 ex  81.2k ex/s  ETA 0:12
 * </pre>
 */
public final class ProgressBar {
    private static final int WIDTH = 20;

    /** Where the line is also copied, at most once a second (e.g. a file {@code freshet retrain} shows); may be null. */
    private final java.util.function.Consumer<String> mirror;
    private long lastMirror = Long.MIN_VALUE;
    private boolean mirrored;
    private final PrintStream out;
    private final boolean terminal;
    private final LongSupplier nanoTime;
    private final long redrawNanos;
    private final long startNanos;
    private long total;
    private final int passes;
    private long lastDraw = Long.MIN_VALUE;
    private boolean drawn;

    /**
     * @param out      where to draw, normally {@code System.err}; null draws nothing (the mirror only)
     * @param terminal whether {@code out} is a console (redraw one line) or a log (one line per update)
     * @param total    examples over all passes
     */
    public ProgressBar(PrintStream out, boolean terminal, LongSupplier nanoTime, long total, int passes) {
        this(out, terminal, nanoTime, total, passes, null);
    }

    public ProgressBar(PrintStream out, boolean terminal, LongSupplier nanoTime, long total, int passes,
                       java.util.function.Consumer<String> mirror) {
        this.out = out;
        this.mirror = mirror;
        this.nanoTime = Objects.requireNonNull(nanoTime, "nanoTime");
        this.terminal = terminal;
        this.redrawNanos = terminal ? 200_000_000L : 5_000_000_000L;
        this.total = Math.max(total, 0);
        this.passes = passes;
        this.startNanos = nanoTime.getAsLong();
    }

    /** A bar on stderr (if {@code draw}) that redraws in place when the process has a console, copied to {@code mirror}. */
    public static ProgressBar stderr(boolean draw, long total, int passes, java.util.function.Consumer<String> mirror) {
        return new ProgressBar(draw ? System.err : null, System.console() != null, System::nanoTime, total, passes, mirror);
    }

    /** Sets the examples expected over all passes (an estimate may be refined as the replay learns the window's size). */
    public void setTotal(long total) {
        this.total = Math.max(total, 0);
    }

    /** Redraws if enough time has passed since the last drawing. */
    public void update(long done, int pass) {
        long now = nanoTime.getAsLong();
        if (mirror != null && (!mirrored || now - lastMirror >= 1_000_000_000L)) {
            lastMirror = now;
            mirrored = true;
            mirror.accept(render(done, pass, now));
        }
        if (out == null || drawn && now - lastDraw < redrawNanos) {
            return;
        }
        lastDraw = now;
        drawn = true;
        String line = render(done, pass, now);
        if (terminal) {
            out.print('\r' + line);
        } else {
            out.println(line);
        }
        out.flush();
    }

    /** Draws the final state and ends the line. */
    public void finish(long done, int pass, String outcome) {
        String line = render(done, pass, nanoTime.getAsLong()) + "  " + outcome;
        if (mirror != null) mirror.accept(line);
        if (out == null) return;
        out.print(terminal ? '\r' + line + '\n' : line + '\n');
        out.flush();
    }

    String render(long done, int pass, long now) {
        double seconds = Math.max(1e-9, (now - startNanos) / 1e9);
        double rate = done / seconds;
        double fraction = total == 0 ? 1.0 : Math.min(1.0, (double) done / total);
        int filled = (int) Math.round(fraction * WIDTH);
        String eta = rate > 0 && done < total ? clock((total - done) / rate) : (done >= total ? "0:00" : "--:--");
        return String.format(Locale.ROOT, "retrain [%s%s] %3d%% pass %d/%d  %,d/%,d ex  %s ex/s  ETA %s",
                "#".repeat(filled), "-".repeat(WIDTH - filled), Math.round(fraction * 100), pass, passes, done, total,
                human(rate), eta);
    }

    static String clock(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }

    static String human(double rate) {
        if (rate >= 1e6) return String.format(Locale.ROOT, "%.1fM", rate / 1e6);
        if (rate >= 1e3) return String.format(Locale.ROOT, "%.1fk", rate / 1e3);
        return String.format(Locale.ROOT, "%.0f", rate);
    }
}
