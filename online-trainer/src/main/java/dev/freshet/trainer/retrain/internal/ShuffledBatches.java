package dev.freshet.trainer.retrain.internal;

import dev.freshet.features.Examples;

import java.util.Objects;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Cuts a stream of examples into training batches of a fixed size, shuffled through a buffer of
 * {@code bufferSize} examples (the local shuffle of TensorFlow's {@code Dataset.shuffle}): each new
 * example takes the slot of a randomly drawn one, which goes out. Seeded, so the same input order
 * and seed give the same batches. A buffer of 1 keeps the input order.
 *
 * <p>The batch handed to the consumer is reused: the consumer must be done with it when it returns.
 */
public final class ShuffledBatches {
    private final Examples buffer;
    private final Examples batch;
    private final int batchSize;
    private final int bufferSize;
    private final SplittableRandom random;
    private final Consumer<Examples> out;
    private long emitted;

    public ShuffledBatches(int numDense, int numSparse, int batchSize, int bufferSize, SplittableRandom random,
                           Consumer<Examples> out) {
        if (batchSize < 1 || bufferSize < 1) {
            throw new IllegalArgumentException("batch size " + batchSize + " and shuffle buffer " + bufferSize + " must be >= 1");
        }
        this.batchSize = batchSize;
        this.bufferSize = bufferSize;
        this.random = Objects.requireNonNull(random, "random");
        this.out = Objects.requireNonNull(out, "out");
        this.buffer = new Examples(bufferSize, numDense, numSparse);
        this.batch = new Examples(batchSize, numDense, numSparse);
    }

    /** Adds the first {@code source.count} examples of {@code source}. */
    public void add(Examples source) {
        boolean ids = source.eventIds.size() == source.count;
        for (int i = 0; i < source.count; i++) {
            if (buffer.count < bufferSize) {
                copy(source, i, ids, buffer, buffer.count);
                buffer.count++;
            } else {
                int j = random.nextInt(bufferSize);
                emit(buffer, j);
                copy(source, i, ids, buffer, j);
            }
        }
    }

    /** Sends what is left in the buffer, in random order, then the last (possibly short) batch. */
    public void finish() {
        int n = buffer.count;
        int[] order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (int i : order) emit(buffer, i);
        buffer.clear();
        if (batch.count > 0) {
            out.accept(batch);
            batch.clear();
        }
    }

    /** Examples handed out so far. */
    public long emitted() {
        return emitted;
    }

    private void emit(Examples from, int index) {
        copy(from, index, from.eventIds.size() > index, batch, batch.count);
        batch.count++;
        emitted++;
        if (batch.count == batchSize) {
            out.accept(batch);
            batch.clear();
        }
    }

    private static void copy(Examples from, int i, boolean ids, Examples to, int j) {
        to.labels[j] = from.labels[i];
        to.eventTimes[j] = from.eventTimes[i];
        System.arraycopy(from.dense, i * from.numDense, to.dense, j * to.numDense, from.numDense);
        System.arraycopy(from.sparse, i * from.numSparse, to.sparse, j * to.numSparse, from.numSparse);
        if (ids) {
            String id = from.eventIds.get(i);
            if (j < to.eventIds.size()) to.eventIds.set(j, id);
            else if (j == to.eventIds.size()) to.eventIds.add(id);
        }
        if (j == 0) to.layoutId = from.layoutId;
    }
}
