package dev.freshet.ingest;

import dev.freshet.features.FeatureLayout;
import dev.freshet.ingest.internal.ByteLineReader;
import dev.freshet.ingest.internal.ClickEventWriter;
import dev.freshet.ingest.internal.TsvLineParser;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Objects;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * Reads a click log, plain or gzip (recognised by its magic bytes, not its name), one line at a time,
 * under any {@link FeatureLayout}. Each line becomes an {@link ParsedLine.Accepted} event or a
 * {@link ParsedLine.Rejected} one with its reason; a bad line never stops the lines after it. A gzip
 * file that ends early yields one rejection saying so, after every line that could be read.
 *
 * <p>Event ids are {@code <file name>:<line>} unless the layout has an event-id column; event times
 * come from the layout's event-time column, else from the given {@link EventTimeSource}.
 */
public final class TsvClickReader implements AutoCloseable {
    /** Longer lines are rejected unread: a Criteo line is about 250 bytes. */
    public static final int MAX_LINE_BYTES = 1 << 20;

    private final String name;
    private final CountingInputStream counted;
    private final ByteLineReader lines;
    private final InputStream text;
    private final TsvLineParser parser;
    private final EventTimeSource times;
    private final boolean gzip;
    private final ClickEventWriter writer = new ClickEventWriter();
    private ParsedLine.Rejected truncation;
    private long lineNumber;
    private long ordinal;
    private boolean ended;

    private TsvClickReader(Path file, FeatureLayout layout, EventTimeSource times, long firstOrdinal) throws IOException {
        this.name = file.getFileName().toString();
        this.times = Objects.requireNonNull(times, "times");
        this.parser = new TsvLineParser(layout, name);
        this.ordinal = firstOrdinal;
        InputStream raw;
        try {
            raw = Files.newInputStream(file);
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(file.toString(), null, "no such click log. Fix: check the path");
        }
        this.counted = new CountingInputStream(new BufferedInputStream(raw, 1 << 16));
        BufferedInputStream probe = new BufferedInputStream(counted, 2);
        probe.mark(2);
        int b0 = probe.read();
        int b1 = probe.read();
        probe.reset();
        this.gzip = b0 == 0x1f && b1 == 0x8b;
        this.text = gzip ? new GZIPInputStream(probe, 1 << 16) : probe;
        this.lines = new ByteLineReader(text, MAX_LINE_BYTES);
    }

    /** Opens {@code file}; ordinals (for sequence event times) start at 0. */
    public static TsvClickReader open(Path file, FeatureLayout layout, EventTimeSource times) throws IOException {
        return open(file, layout, times, 0);
    }

    /** Opens {@code file} continuing a run whose earlier files held {@code firstOrdinal} lines. */
    public static TsvClickReader open(Path file, FeatureLayout layout, EventTimeSource times, long firstOrdinal) throws IOException {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(layout, "layout");
        return new TsvClickReader(file, layout, times, firstOrdinal);
    }

    /** The next line's outcome ({@link ParsedLine.Accepted} or {@link ParsedLine.Rejected}), or null at the end of the file. */
    public ParsedLine next() throws IOException {
        if (!advance()) {
            return truncation;
        }
        if (lines.overlong()) {
            return overlong();
        }
        return parser.parse(lines.buffer(), lines.start(), lines.end(), lineNumber, ordinal++, times);
    }

    /**
     * The next line's outcome as {@link ParsedLine.Encoded} record bytes (or {@link ParsedLine.Rejected}), or
     * null at the end: the replay's fast path, which skips building ClickEvent objects.
     */
    public ParsedLine nextEncoded() throws IOException {
        if (!advance()) {
            return truncation;
        }
        if (lines.overlong()) {
            return overlong();
        }
        return parser.parseEncoded(lines.buffer(), lines.start(), lines.end(), lineNumber, ordinal++, times, writer);
    }

    /** Moves to the next line; false at the end or when the gzip stream breaks (then {@link #truncation} says so, once). */
    private boolean advance() throws IOException {
        truncation = null;
        if (ended) {
            return false;
        }
        boolean more;
        try {
            more = lines.next();
        } catch (EOFException | ZipException e) {
            // GZIPInputStream reports a cut-off file as EOFException ("Unexpected end of ZLIB input stream").
            ended = true;
            String what = e instanceof EOFException ? "truncated gzip: the file ends inside compressed data" : "corrupt gzip: " + e.getMessage();
            truncation = parser.reject(lineNumber + 1, what + " after " + lineNumber
                    + " complete lines; the rest of the file is lost. Fix: re-copy or re-compress the file.");
            return false;
        }
        if (!more) {
            ended = true;
            return false;
        }
        lineNumber++;
        return true;
    }

    private ParsedLine overlong() {
        ordinal++;
        return parser.reject(lineNumber, "line longer than " + MAX_LINE_BYTES + " bytes, skipped (no click event is that long; is this a click log?)");
    }

    /** Bytes read from the file so far (compressed bytes for gzip), read ahead in 64 KiB blocks. */
    public long bytesRead() {
        return counted.count;
    }

    /** Lines read so far, including rejected ones. */
    public long lines() {
        return lineNumber;
    }

    /** Run ordinal of the next line: {@code firstOrdinal + lines()}. */
    public long nextOrdinal() {
        return ordinal;
    }

    public boolean gzip() {
        return gzip;
    }

    @Override
    public void close() {
        try {
            text.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close " + name + ": " + e.getMessage(), e);
        }
    }

    private static final class CountingInputStream extends FilterInputStream {
        long count;

        CountingInputStream(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0) count++;
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            if (n > 0) count += n;
            return n;
        }
    }
}
