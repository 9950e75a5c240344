package dev.freshet.features;

import dev.freshet.schemas.FeatureBatch;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A batch of training examples as plain arrays: the in-memory twin of the columnar {@link FeatureBatch}
 * record. Arrays may be larger than needed; only the first {@code count} examples are valid, so one
 * instance can be refilled without allocating.
 *
 * <pre>
 * labels     [B]          0 or 1
 * dense      [B, numDense] row-major, normalised
 * sparse     [B, numSparse] row-major, embedding row per table
 * eventTimes [B]          epoch ms
 * </pre>
 */
public final class Examples {
    public final int numDense;
    public final int numSparse;
    public int count;
    public long layoutId;
    public byte[] labels;
    public float[] dense;
    public int[] sparse;
    public long[] eventTimes;
    public final List<String> eventIds = new ArrayList<>();

    public Examples(int capacity, int numDense, int numSparse) {
        if (capacity < 0 || numDense < 0 || numSparse < 0) {
            throw new IllegalArgumentException("negative size: capacity " + capacity + ", numDense " + numDense + ", numSparse " + numSparse);
        }
        this.numDense = numDense;
        this.numSparse = numSparse;
        this.labels = new byte[capacity];
        this.dense = new float[capacity * numDense];
        this.sparse = new int[capacity * numSparse];
        this.eventTimes = new long[capacity];
    }

    public int capacity() {
        return labels.length;
    }

    public void clear() {
        count = 0;
        eventIds.clear();
    }

    /** Grows the arrays (keeping contents) so that at least {@code capacity} examples fit. */
    public void ensureCapacity(int capacity) {
        if (capacity <= labels.length) return;
        int c = Math.max(capacity, labels.length * 2);
        labels = java.util.Arrays.copyOf(labels, c);
        dense = java.util.Arrays.copyOf(dense, c * numDense);
        sparse = java.util.Arrays.copyOf(sparse, c * numSparse);
        eventTimes = java.util.Arrays.copyOf(eventTimes, c);
    }

    /** The columnar record for the first {@code count} examples. */
    public FeatureBatch toRecord() {
        ByteBuffer d = ByteBuffer.allocate(count * numDense * 4).order(ByteOrder.LITTLE_ENDIAN);
        d.asFloatBuffer().put(dense, 0, count * numDense);
        ByteBuffer s = ByteBuffer.allocate(count * numSparse * 4).order(ByteOrder.LITTLE_ENDIAN);
        s.asIntBuffer().put(sparse, 0, count * numSparse);
        ByteBuffer t = ByteBuffer.allocate(count * 8).order(ByteOrder.LITTLE_ENDIAN);
        t.asLongBuffer().put(eventTimes, 0, count);
        return FeatureBatch.newBuilder()
                .setLayoutId(layoutId)
                .setCount(count)
                .setNumDense(numDense)
                .setNumSparse(numSparse)
                .setLabels(ByteBuffer.wrap(java.util.Arrays.copyOf(labels, count)))
                .setDense(d)
                .setSparse(s)
                .setEventTimes(t)
                .setEventIds(new ArrayList<>(eventIds))
                .build();
    }

    /**
     * Appends the examples of {@code record} to this batch, checking every size so that a corrupt
     * record is refused whole (nothing is appended) with a message saying what is wrong.
     */
    public void append(FeatureBatch record) {
        Objects.requireNonNull(record, "record");
        int n = record.getCount();
        if (record.getNumDense() != numDense || record.getNumSparse() != numSparse) {
            throw new IllegalArgumentException("feature batch has " + record.getNumDense() + " dense and " + record.getNumSparse()
                    + " categorical features per example; the model expects " + numDense + " and " + numSparse);
        }
        checkBytes("labels", record.getLabels(), n, 1);
        checkBytes("dense", record.getDense(), n, 4 * numDense);
        checkBytes("sparse", record.getSparse(), n, 4 * numSparse);
        checkBytes("eventTimes", record.getEventTimes(), n, 8);
        if (!record.getEventIds().isEmpty() && record.getEventIds().size() != n) {
            throw new IllegalArgumentException("feature batch has " + record.getEventIds().size() + " event ids for " + n + " examples");
        }
        ensureCapacity(count + n);
        record.getLabels().duplicate().get(labels, count, n);
        record.getDense().duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(dense, count * numDense, n * numDense);
        record.getSparse().duplicate().order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(sparse, count * numSparse, n * numSparse);
        record.getEventTimes().duplicate().order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(eventTimes, count, n);
        eventIds.addAll(record.getEventIds());
        if (count == 0) layoutId = record.getLayoutId();
        count += n;
    }

    private static void checkBytes(String field, ByteBuffer b, int n, int perExample) {
        if (n < 0 || b.remaining() != (long) n * perExample) {
            throw new IllegalArgumentException("feature batch field " + field + " has " + b.remaining() + " bytes; "
                    + n + " examples need " + ((long) n * perExample));
        }
    }
}
