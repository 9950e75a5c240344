package dev.freshet.publisher;

import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelDelta;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A DELTA version's content, the bytes that travel (chunked) in model-update records and are kept as
 * {@code delta.bin} in the model store:
 *
 * <pre>
 * "FRDL" | format 1 | version int64 | parent int64 | tables int32 | dim int32 | denseCount int32   (big-endian)
 * per table: table int32 | n int32 | rows int32[n] | values fp32[n x dim]                         (little-endian)
 * dense fp32[denseCount]                                                                          (little-endian)
 * </pre>
 *
 * @param rows  touched rows per table, ascending row ids
 * @param dense every MLP weight, in {@code DenseParameters} layout
 */
public record DeltaPayload(long version, long parent, int dim, List<ModelDelta.TableRows> rows, float[] dense) {
    public static final int MAGIC = 0x4652444C; // "FRDL"
    public static final int FORMAT_VERSION = 1;
    private static final int HEADER_BYTES = 36;

    public DeltaPayload {
        Objects.requireNonNull(rows, "rows");
        Objects.requireNonNull(dense, "dense");
        rows = List.copyOf(rows);
    }

    public long rowCount() {
        return rows.stream().mapToLong(r -> r.rows().length).sum();
    }

    public long encodedSize() {
        long n = HEADER_BYTES + dense.length * 4L;
        for (ModelDelta.TableRows r : rows) n += 8 + r.rows().length * 4L + r.values().length * 4L;
        return n;
    }

    public byte[] encode() {
        long size = encodedSize();
        if (size > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("delta of " + rowCount() + " rows is " + size + " bytes, over the 2 GiB a payload can hold. "
                    + "Fix: publish deltas more often (publisher.delta-interval) or a FULL instead");
        }
        ByteBuffer b = ByteBuffer.allocate((int) size);
        b.putInt(MAGIC).putInt(FORMAT_VERSION).putLong(version).putLong(parent).putInt(rows.size()).putInt(dim).putInt(dense.length);
        b.order(ByteOrder.LITTLE_ENDIAN);
        for (ModelDelta.TableRows r : rows) {
            b.putInt(r.table()).putInt(r.rows().length);
            b.asIntBuffer().put(r.rows());
            b.position(b.position() + r.rows().length * 4);
            b.asFloatBuffer().put(r.values());
            b.position(b.position() + r.values().length * 4);
        }
        b.asFloatBuffer().put(dense);
        return b.array();
    }

    /** Decodes and validates a payload against the model it must apply to: table indices, row ranges and order, sizes. */
    public static DeltaPayload decode(byte[] data, ModelConfig config) {
        Objects.requireNonNull(data, "data");
        Objects.requireNonNull(config, "config");
        try {
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
            int tables = b.getInt();
            int dim = b.getInt();
            int denseCount = b.getInt();
            if (dim != config.embeddingDim()) {
                throw new ModelStoreException("delta " + version + " has dim " + dim + "; the model has " + config.embeddingDim());
            }
            if (tables < 0 || tables > config.numTables()) {
                throw new ModelStoreException("delta " + version + " names " + tables + " tables; the model has " + config.numTables());
            }
            b.order(ByteOrder.LITTLE_ENDIAN);
            List<ModelDelta.TableRows> rows = new ArrayList<>(tables);
            int lastTable = -1;
            for (int i = 0; i < tables; i++) {
                int table = b.getInt();
                int n = b.getInt();
                if (table <= lastTable || table >= config.numTables()) {
                    throw new ModelStoreException("delta " + version + " has table index " + table + " (after " + lastTable
                            + "); allowed ascending 0.." + (config.numTables() - 1));
                }
                lastTable = table;
                long tableRows = config.tables().get(table).rows();
                if (n < 0 || (long) n * (4 + 4L * dim) > b.remaining()) {
                    throw new ModelStoreException("delta " + version + " claims " + n + " rows for table " + table + " but only "
                            + b.remaining() + " bytes remain: truncated");
                }
                int[] ids = new int[n];
                b.asIntBuffer().get(ids);
                b.position(b.position() + n * 4);
                int prev = -1;
                for (int id : ids) {
                    if (id <= prev || id >= tableRows) {
                        throw new ModelStoreException("delta " + version + " has row " + id + " (after " + prev + ") for table "
                                + config.tables().get(table).name() + " of " + tableRows + " rows; rows must ascend within range");
                    }
                    prev = id;
                }
                float[] values = new float[n * dim];
                b.asFloatBuffer().get(values);
                b.position(b.position() + values.length * 4);
                rows.add(new ModelDelta.TableRows(table, ids, values));
            }
            if (b.remaining() != denseCount * 4L) {
                throw new ModelStoreException("delta " + version + " has " + b.remaining() + " bytes left for " + denseCount
                        + " dense weights (" + denseCount * 4L + " bytes): truncated or padded");
            }
            float[] dense = new float[denseCount];
            b.asFloatBuffer().get(dense);
            return new DeltaPayload(version, parent, dim, rows, dense);
        } catch (BufferUnderflowException e) {
            throw new ModelStoreException("delta payload of " + data.length + " bytes ends early: truncated", e);
        }
    }
}
