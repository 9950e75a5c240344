package dev.freshet.publisher.internal;

import dev.freshet.publisher.ModelStoreException;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.DigestOutputStream;
import java.security.MessageDigest;

/**
 * The binary table and dense-weight files of the model store. Each begins with a 4-byte magic and a
 * format version (big-endian int), then its sizes, then little-endian fp32 values:
 *
 * <pre>
 * table file:  "FRTB" | format 1 | rows int64 | dim int32 | rows x dim fp32 (row-major)
 * dense file:  "FRDN" | format 1 | count int32 | count fp32
 * </pre>
 *
 * Readers refuse an unknown magic or format version by name and a file whose length disagrees with its
 * header (truncated or padded), and hash what they read so that the caller can compare with the manifest.
 */
public final class BinaryFiles {
    public static final int TABLE_MAGIC = 0x46525442; // "FRTB"
    public static final int DENSE_MAGIC = 0x4652444E; // "FRDN"
    public static final int TABLE_FORMAT = 1;
    public static final int DENSE_FORMAT = 1;
    private static final int BLOCK_FLOATS = 1 << 16;

    private BinaryFiles() {
    }

    /** Supplies a table's rows in order: fills {@code dst[0, rows * dim)} with rows {@code [first, first + rows)}. */
    public interface RowSource {
        void read(long first, int rows, float[] dst);
    }

    /** Receives a table's rows in order. */
    public interface RowSink {
        void accept(long first, int rows, float[] values);
    }

    /** Writes a table file and returns its hex SHA-256. */
    public static String writeTable(Path file, long rows, int dim, RowSource source) throws IOException {
        MessageDigest md = Sha256.digest();
        try (OutputStream os = new DigestOutputStream(new BufferedOutputStream(Files.newOutputStream(file), 1 << 16), md)) {
            ByteBuffer header = ByteBuffer.allocate(20);
            header.putInt(TABLE_MAGIC).putInt(TABLE_FORMAT).putLong(rows).putInt(dim);
            os.write(header.array());
            int rowsPerBlock = Math.max(1, BLOCK_FLOATS / dim);
            float[] block = new float[rowsPerBlock * dim];
            ByteBuffer bytes = ByteBuffer.allocate(block.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (long r = 0; r < rows; r += rowsPerBlock) {
                int n = (int) Math.min(rowsPerBlock, rows - r);
                source.read(r, n, block);
                bytes.clear();
                bytes.asFloatBuffer().put(block, 0, n * dim);
                os.write(bytes.array(), 0, n * dim * 4);
            }
        }
        return Sha256.hex(md);
    }

    /**
     * Reads a table file of {@code expectRows x expectDim}, handing the rows to {@code sink}, and returns the
     * file's hex SHA-256. The caller must compare it with the manifest before using what the sink received.
     */
    public static String readTable(Path file, long expectRows, int expectDim, RowSink sink) {
        MessageDigest md = Sha256.digest();
        try (DataInputStream in = new DataInputStream(new DigestInputStream(new BufferedInputStream(Files.newInputStream(file), 1 << 16), md))) {
            long size = Files.size(file);
            checkHeader(file, in.readInt(), TABLE_MAGIC, "table", in.readInt(), TABLE_FORMAT);
            long rows = in.readLong();
            int dim = in.readInt();
            if (rows != expectRows || dim != expectDim) {
                throw new ModelStoreException("table file " + file + " holds " + rows + " x " + dim + " but the manifest's config says "
                        + expectRows + " x " + expectDim + ": the file belongs to another model");
            }
            long expectBytes = 20 + rows * dim * 4L;
            if (size != expectBytes) {
                throw new ModelStoreException("table file " + file + " is " + size + " bytes; its header (" + rows + " x " + dim
                        + ") needs " + expectBytes + ": truncated or padded. Fix: republish the version or resync from another");
            }
            int rowsPerBlock = Math.max(1, BLOCK_FLOATS / dim);
            float[] block = new float[rowsPerBlock * dim];
            byte[] raw = new byte[block.length * 4];
            ByteBuffer view = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
            for (long r = 0; r < rows; r += rowsPerBlock) {
                int n = (int) Math.min(rowsPerBlock, rows - r);
                in.readFully(raw, 0, n * dim * 4);
                view.clear();
                view.asFloatBuffer().get(block, 0, n * dim);
                sink.accept(r, n, block);
            }
        } catch (EOFException e) {
            throw new ModelStoreException("table file " + file + " ends early: truncated. Fix: republish the version or resync from another", e);
        } catch (IOException e) {
            throw new ModelStoreException("cannot read table file " + file + ": " + e.getMessage(), e);
        }
        return Sha256.hex(md);
    }

    public static String writeDense(Path file, float[] values) throws IOException {
        byte[] data = encodeDense(values);
        Files.write(file, data);
        return Sha256.hex(data);
    }

    public static byte[] encodeDense(float[] values) {
        ByteBuffer b = ByteBuffer.allocate(12 + values.length * 4);
        b.putInt(DENSE_MAGIC).putInt(DENSE_FORMAT).putInt(values.length);
        b.order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(values);
        return b.array();
    }

    /** Decodes a dense file's bytes, checking magic, format version and length. */
    public static float[] decodeDense(String what, byte[] data, int expectCount) {
        if (data.length < 12) {
            throw new ModelStoreException("dense file " + what + " is " + data.length + " bytes, shorter than its 12-byte header: truncated");
        }
        ByteBuffer b = ByteBuffer.wrap(data);
        checkHeader(what, b.getInt(), DENSE_MAGIC, "dense", b.getInt(), DENSE_FORMAT);
        int count = b.getInt();
        if (count != expectCount) {
            throw new ModelStoreException("dense file " + what + " holds " + count + " weights; the manifest's config needs " + expectCount);
        }
        if (data.length != 12 + count * 4L) {
            throw new ModelStoreException("dense file " + what + " is " + data.length + " bytes; " + count + " weights need "
                    + (12 + count * 4L) + ": truncated or padded");
        }
        float[] values = new float[count];
        b.order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values);
        return values;
    }

    static void checkHeader(Object file, int magic, int expectMagic, String kind, int format, int knownFormat) {
        if (magic != expectMagic) {
            throw new ModelStoreException(file + " is not a Freshet " + kind + " file (magic 0x" + Integer.toHexString(magic)
                    + ", expected 0x" + Integer.toHexString(expectMagic) + ")");
        }
        if (format != knownFormat) {
            throw new ModelStoreException(kind + " file " + file + " has format version " + format + "; this reader knows version "
                    + knownFormat + ". Fix: read it with the Freshet release that wrote it, or republish the model with this one");
        }
    }

    /** Reads exactly {@code n} bytes or fails with EOF. */
    static void readFully(InputStream in, byte[] dst, int n) throws IOException {
        int off = 0;
        while (off < n) {
            int r = in.read(dst, off, n - off);
            if (r < 0) throw new EOFException();
            off += r;
        }
    }
}
