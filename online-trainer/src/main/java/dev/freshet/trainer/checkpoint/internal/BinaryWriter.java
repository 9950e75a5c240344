package dev.freshet.trainer.checkpoint.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * Little-endian primitives onto a channel through one fixed direct buffer, hashing every byte with
 * SHA-256 on the way: a table of many GB streams through in buffer-sized pieces and never sits in the
 * heap. Not thread-safe; the caller owns (and closes) the channel.
 */
public final class BinaryWriter {
    private static final int BUFFER_BYTES = 1 << 20;

    private final WritableByteChannel channel;
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    private final MessageDigest digest = sha256();
    private long written;

    public BinaryWriter(WritableByteChannel channel) {
        this.channel = channel;
    }

    public void putBytes(byte[] bytes) throws IOException {
        int at = 0;
        while (at < bytes.length) {
            ensure(1);
            int n = Math.min(buffer.remaining(), bytes.length - at);
            buffer.put(bytes, at, n);
            at += n;
        }
    }

    public void putInt(int v) throws IOException {
        ensure(4);
        buffer.putInt(v);
    }

    public void putLong(long v) throws IOException {
        ensure(8);
        buffer.putLong(v);
    }

    public void putFloat(float v) throws IOException {
        ensure(4);
        buffer.putFloat(v);
    }

    public void putDouble(double v) throws IOException {
        ensure(8);
        buffer.putDouble(v);
    }

    /** Length-prefixed UTF-8. */
    public void putString(String s) throws IOException {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        putInt(b.length);
        putBytes(b);
    }

    public void putFloats(float[] src, int offset, int length) throws IOException {
        int at = offset;
        int end = offset + length;
        while (at < end) {
            ensure(4);
            int n = Math.min(buffer.remaining() / 4, end - at);
            buffer.asFloatBuffer().put(src, at, n);
            buffer.position(buffer.position() + 4 * n);
            at += n;
        }
    }

    public void putInts(int[] src, int offset, int length) throws IOException {
        int at = offset;
        int end = offset + length;
        while (at < end) {
            ensure(4);
            int n = Math.min(buffer.remaining() / 4, end - at);
            buffer.asIntBuffer().put(src, at, n);
            buffer.position(buffer.position() + 4 * n);
            at += n;
        }
    }

    /** Writes out everything buffered. */
    public void flush() throws IOException {
        buffer.flip();
        digest.update(buffer.duplicate());
        while (buffer.hasRemaining()) {
            written += channel.write(buffer);
        }
        buffer.clear();
    }

    /** Flushes, then returns the SHA-256 of every byte written so far (and resets the hash). */
    public byte[] finish() throws IOException {
        flush();
        return digest.digest();
    }

    /** Flushes and appends the SHA-256 of everything before it, so a reader can check the stream on its own. */
    public void finishWithTrailingHash() throws IOException {
        flush();
        byte[] hash = digest.digest();
        buffer.put(hash);
        buffer.flip();
        while (buffer.hasRemaining()) {
            written += channel.write(buffer);
        }
        buffer.clear();
    }

    public long bytesWritten() {
        return written + buffer.position();
    }

    private void ensure(int bytes) throws IOException {
        if (buffer.remaining() < bytes) flush();
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 missing from this JVM", e);
        }
    }
}
