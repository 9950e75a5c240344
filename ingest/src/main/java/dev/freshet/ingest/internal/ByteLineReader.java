package dev.freshet.ingest.internal;

import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;

/**
 * Splits a byte stream into lines without decoding it: the TSV parser works on the bytes, so the
 * replay never builds a String per line. A line is {@code buffer()[start(), end())}, without its '\n'.
 * Lines longer than {@code maxLineBytes} are skipped to their end and reported through {@link #overlong()},
 * so that one corrupt file cannot exhaust memory.
 */
public final class ByteLineReader {
    private final InputStream in;
    private final int maxLineBytes;
    private byte[] buf = new byte[1 << 16];
    private int pos;
    private int limit;
    private int start;
    private int end;
    private boolean eof;
    private boolean overlong;

    public ByteLineReader(InputStream in, int maxLineBytes) {
        this.in = in;
        this.maxLineBytes = maxLineBytes;
    }

    /** Advances to the next line; false at the end of the stream. */
    public boolean next() throws IOException {
        overlong = false;
        int scanned = 0; // bytes after pos already searched for '\n'
        while (true) {
            for (int i = pos + scanned; i < limit; i++) {
                if (buf[i] == '\n') {
                    start = pos;
                    end = i;
                    pos = i + 1;
                    return true;
                }
            }
            scanned = limit - pos;
            if (eof) {
                if (pos < limit) {
                    start = pos;
                    end = limit;
                    pos = limit;
                    return true;
                }
                return false;
            }
            if (scanned >= maxLineBytes) {
                skipRestOfLine();
                return true;
            }
            fill();
        }
    }

    /** Whether the current line was longer than the limit (then it is empty here). */
    public boolean overlong() {
        return overlong;
    }

    public byte[] buffer() {
        return buf;
    }

    public int start() {
        return start;
    }

    public int end() {
        return end;
    }

    /** Moves the unread bytes to the front (growing the buffer if a line fills it) and reads more. */
    private void fill() throws IOException {
        if (pos > 0) {
            System.arraycopy(buf, pos, buf, 0, limit - pos);
            limit -= pos;
            pos = 0;
        }
        if (limit == buf.length) {
            buf = Arrays.copyOf(buf, Math.min(buf.length * 2, Math.max(buf.length, maxLineBytes + 1)));
        }
        int n = in.read(buf, limit, buf.length - limit);
        if (n < 0) {
            eof = true;
        } else {
            limit += n;
        }
    }

    private void skipRestOfLine() throws IOException {
        overlong = true;
        while (true) {
            for (int i = pos; i < limit; i++) {
                if (buf[i] == '\n') {
                    pos = i + 1;
                    start = end = pos;
                    return;
                }
            }
            pos = limit;
            if (eof) {
                start = end = pos;
                return;
            }
            fill();
        }
    }
}
