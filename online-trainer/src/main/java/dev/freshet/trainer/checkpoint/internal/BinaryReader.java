package dev.freshet.trainer.checkpoint.internal;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ReadableByteChannel;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

/**
 * The reading twin of {@link BinaryWriter}: little-endian primitives from a channel through one fixed
 * direct buffer, hashing every byte consumed so that the caller can compare against the recorded SHA-256
 * once it has read everything. Not thread-safe; the caller owns (and closes) the channel.
 */
public final class BinaryReader {
    private static final int BUFFER_BYTES = 1 << 20;
    /** Strings in model files are names and metadata: anything longer means a corrupt length prefix. */
    private static final int MAX_STRING_BYTES = 1 << 20;

    private final ReadableByteChannel channel;
    private final String source;
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    private final MessageDigest digest = BinaryWriter.sha256();
    private long consumed;

    /** @param source names the file or stream in error messages */
    public BinaryReader(ReadableByteChannel channel, String source) {
        this.channel = channel;
        this.source = source;
        buffer.limit(0);
    }

    public byte[] getBytes(int n) throws IOException {
        byte[] out = new byte[n];
        int at = 0;
        while (at < n) {
            require(1);
            int k = Math.min(buffer.remaining(), n - at);
            take(k);
            buffer.get(out, at, k);
            at += k;
        }
        return out;
    }

    public int getInt() throws IOException {
        return next(4).getInt();
    }

    public long getLong() throws IOException {
        return next(8).getLong();
    }

    public float getFloat() throws IOException {
        return next(4).getFloat();
    }

    public double getDouble() throws IOException {
        return next(8).getDouble();
    }

    public String getString() throws IOException {
        int n = getInt();
        if (n < 0 || n > MAX_STRING_BYTES) {
            throw new IOException(source + ": string length " + n + " at byte " + (consumed - 4) + " is out of range 0.." + MAX_STRING_BYTES + ": the file is corrupt");
        }
        return new String(getBytes(n), StandardCharsets.UTF_8);
    }

    public void getFloats(float[] dst, int offset, int length) throws IOException {
        for (int at = offset, end = offset + length; at < end; ) {
            int n = nextWords(end - at);
            buffer.asFloatBuffer().get(dst, at, n);
            buffer.position(buffer.position() + 4 * n);
            at += n;
        }
    }

    public void getInts(int[] dst, int offset, int length) throws IOException {
        for (int at = offset, end = offset + length; at < end; ) {
            int n = nextWords(end - at);
            buffer.asIntBuffer().get(dst, at, n);
            buffer.position(buffer.position() + 4 * n);
            at += n;
        }
    }

    /** SHA-256 of every byte consumed so far (resets the hash). */
    public byte[] digest() {
        return digest.digest();
    }

    /** Reads a trailing SHA-256 (not itself hashed) and fails unless it matches everything before it. */
    public void verifyTrailingHash() throws IOException {
        byte[] expected = digest.digest();
        require(32);
        byte[] actual = new byte[32];
        buffer.get(actual);
        consumed += 32;
        if (!MessageDigest.isEqual(expected, actual)) {
            throw new IOException(source + ": SHA-256 mismatch after " + (consumed - 32) + " bytes: the data is corrupt or truncated");
        }
    }

    /** True when no byte is left. */
    public boolean atEnd() throws IOException {
        if (buffer.hasRemaining()) return false;
        fill();
        return !buffer.hasRemaining();
    }

    public long consumed() {
        return consumed;
    }

    /** The buffer, positioned at the next {@code bytes} bytes (already hashed) for one typed get. */
    private ByteBuffer next(int bytes) throws IOException {
        require(bytes);
        take(bytes);
        return buffer;
    }

    /**
     * Hashes the next 4-byte words, as many as are buffered but at most {@code left} (at least one), and
     * returns their count; the caller reads them and moves the position past them.
     */
    private int nextWords(int left) throws IOException {
        require(4);
        int n = Math.min(buffer.remaining() / 4, left);
        take(4 * n);
        return n;
    }

    private void take(int n) {
        ByteBuffer slice = buffer.duplicate();
        slice.limit(slice.position() + n);
        digest.update(slice);
        consumed += n;
    }

    private void require(int bytes) throws IOException {
        if (buffer.remaining() >= bytes) return;
        fill();
        if (buffer.remaining() < bytes) {
            throw new EOFException(source + " ends after " + (consumed + buffer.remaining()) + " bytes, in the middle of a value: the file is truncated");
        }
    }

    private void fill() throws IOException {
        buffer.compact();
        while (buffer.hasRemaining()) {
            if (channel.read(buffer) < 0) break;
        }
        buffer.flip();
    }
}
