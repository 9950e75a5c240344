package dev.freshet.publisher;

import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelDelta;
import dev.freshet.trainer.checkpoint.ModelFiles;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * A DELTA version's content: the bytes that travel (chunked) in model-update records and are kept as
 * {@code delta.bin} in the model store. A short header binds the bytes to their version and parent; the
 * body is the trainer's own delta stream ({@link ModelFiles#writeDelta}: config, progress, dense weights,
 * touched rows, trailing SHA-256), so that trainer and serving share one format.
 *
 * <pre>
 * "FRDL" | format 1 | version int64 | parent int64   (big-endian)   then the ModelFiles delta stream
 * </pre>
 */
public record DeltaPayload(long version, long parent, ModelDelta delta) {
    public static final int MAGIC = 0x4652444C; // "FRDL"
    public static final int FORMAT_VERSION = 1;
    private static final int HEADER_BYTES = 24;

    public DeltaPayload {
        Objects.requireNonNull(delta, "delta");
    }

    public byte[] encode() {
        long estimate = HEADER_BYTES + 4096 + delta.dense().length * 4L;
        for (ModelDelta.TableRows r : delta.rows()) estimate += 8 + r.rows().length * 4L + r.values().length * 4L;
        if (estimate > Integer.MAX_VALUE - 64) {
            throw new IllegalArgumentException("delta of " + delta.rowCount() + " rows needs about " + estimate + " bytes, over the 2 GiB "
                    + "a payload can hold. Fix: publish deltas more often, or a FULL instead");
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream((int) estimate);
        try {
            DataOutputStream header = new DataOutputStream(out);
            header.writeInt(MAGIC);
            header.writeInt(FORMAT_VERSION);
            header.writeLong(version);
            header.writeLong(parent);
            header.flush();
            ModelFiles.writeDelta(delta, out);
        } catch (IOException e) {
            throw new IllegalStateException("in-memory write failed", e);
        }
        return out.toByteArray();
    }

    /**
     * Decodes and validates a payload against the model it must apply to: same config, table indices in
     * range, row ids ascending and in range, sizes consistent.
     */
    public static DeltaPayload decode(byte[] data, ModelConfig config) {
        Objects.requireNonNull(data, "data");
        Objects.requireNonNull(config, "config");
        if (data.length < HEADER_BYTES) {
            throw new ModelStoreException("delta payload of " + data.length + " bytes is shorter than its " + HEADER_BYTES + "-byte header: truncated");
        }
        ByteBuffer b = ByteBuffer.wrap(data);
        int magic = b.getInt();
        if (magic != MAGIC) {
            throw new ModelStoreException("not a Freshet delta payload (magic 0x" + Integer.toHexString(magic) + ", expected 0x"
                    + Integer.toHexString(MAGIC) + ")");
        }
        int format = b.getInt();
        if (format != FORMAT_VERSION) {
            throw new ModelStoreException("delta payload has format version " + format + "; this reader knows version "
                    + FORMAT_VERSION + ". Fix: run serving with the Freshet release of the publisher");
        }
        long version = b.getLong();
        long parent = b.getLong();
        ModelDelta delta;
        try {
            delta = ModelFiles.readDelta(new java.io.ByteArrayInputStream(data, HEADER_BYTES, data.length - HEADER_BYTES));
        } catch (IOException | RuntimeException e) {
            throw new ModelStoreException("delta payload of version " + version + " is corrupt: " + e.getMessage(), e);
        }
        if (!delta.config().equals(config)) {
            throw new ModelStoreException("delta " + version + " was made for model config " + delta.config()
                    + ", not the running one " + config + ": it belongs to another model");
        }
        int dim = config.embeddingDim();
        int lastTable = -1;
        for (ModelDelta.TableRows r : delta.rows()) {
            if (r.table() <= lastTable) {
                throw new ModelStoreException("delta " + version + " lists table " + r.table() + " after " + lastTable + "; tables must ascend");
            }
            lastTable = r.table();
            long rows = config.tables().get(r.table()).rows();
            int prev = -1;
            for (int id : r.rows()) {
                if (id <= prev || id >= rows) {
                    throw new ModelStoreException("delta " + version + " has row " + id + " (after " + prev + ") for table "
                            + config.tables().get(r.table()).name() + " of " + rows + " rows; rows must ascend within range");
                }
                prev = id;
            }
            if ((long) r.rows().length * dim != r.values().length) {
                throw new ModelStoreException("delta " + version + " table " + r.table() + ": " + r.rows().length + " rows but "
                        + r.values().length + " values (dim " + dim + ")");
            }
        }
        return new DeltaPayload(version, parent, delta);
    }
}
