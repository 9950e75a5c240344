package dev.freshet.trainer.online.internal;

import dev.freshet.features.Examples;
import org.apache.kafka.common.TopicPartition;

import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.Objects;

/**
 * One partition's examples in offset order: the ones polled but not yet trained, and the position of the
 * first untrained example. A {@code features} record holds many examples and a training batch may end
 * inside one, so a position is a record offset plus the number of that record's examples already trained.
 */
public final class PartitionCursor {
    private final TopicPartition partition;
    private final ArrayDeque<Chunk> pending = new ArrayDeque<>();
    private long trainedOffset;
    private int trainedSkip;
    private long lastSeenOffset = -1;
    private int pendingExamples;
    /** Counts {@link #reset}s: a peeked batch is still the one {@link #take} would give while this and the position are unchanged. */
    private long epoch;

    /** A position: the first untrained example is example {@code skip} of the record at {@code offset}. */
    public record Position(long offset, int skip) {
        public Position {
            if (offset < 0 || skip < 0) throw new IllegalArgumentException("position " + offset + ":" + skip + " is negative");
        }

        /** "offset:skip", as stored in checkpoints and commit metadata. */
        @Override
        public String toString() {
            return offset + ":" + skip;
        }

        public static Position parse(String text) {
            int colon = text.indexOf(':');
            if (colon < 0) return new Position(Long.parseLong(text.trim()), 0);
            return new Position(Long.parseLong(text.substring(0, colon).trim()), Integer.parseInt(text.substring(colon + 1).trim()));
        }
    }

    /** The examples of one step's batch, from {@code from} (inclusive) to {@code to} (exclusive), for logs and errors. */
    public record Range(TopicPartition partition, Position from, Position to) {
        @Override
        public String toString() {
            return partition + " from offset " + from.offset() + " (example " + from.skip() + ") to offset " + to.offset()
                    + " (example " + to.skip() + ", exclusive)";
        }
    }

    private static final class Chunk {
        final long offset;
        final Examples examples;
        /** When the record was polled (epoch ms, the trainer's clock): how long its examples have waited for a batch. */
        final long polledAt;
        int used;

        Chunk(long offset, Examples examples, long polledAt, int used) {
            this.offset = offset;
            this.examples = examples;
            this.polledAt = polledAt;
            this.used = used;
        }
    }

    public PartitionCursor(TopicPartition partition, Position start) {
        this.partition = partition;
        this.trainedOffset = start.offset();
        this.trainedSkip = start.skip();
    }

    public TopicPartition partition() {
        return partition;
    }

    /** The first untrained example. */
    public Position position() {
        return new Position(trainedOffset, trainedSkip);
    }

    /** Untrained examples held in memory. */
    public int available() {
        return pendingExamples;
    }

    /** When the record holding the first untrained example was polled (epoch ms); {@link Long#MAX_VALUE} when none is held. */
    public long oldestPolledAt() {
        Chunk head = pending.peekFirst();
        return head == null ? Long.MAX_VALUE : head.polledAt;
    }

    /**
     * Takes a polled record's examples, polled at {@code polledAtMillis}. Records before the position
     * (re-delivered after a seek) are dropped; the record at the position loses the examples already
     * trained. Returns whether anything was kept.
     */
    public boolean offer(long offset, Examples examples, long polledAtMillis) {
        if (!accept(offset)) return false;
        int used = offset == trainedOffset ? Math.min(trainedSkip, examples.count) : 0;
        if (used == examples.count) return false;
        pending.addLast(new Chunk(offset, examples, polledAtMillis, used));
        pendingExamples += examples.count - used;
        return true;
    }

    /** Notes a record that was refused, so that a re-delivery of it is recognised as such. */
    public boolean skip(long offset) {
        return accept(offset);
    }

    private boolean accept(long offset) {
        if (offset < trainedOffset || offset <= lastSeenOffset) return false;
        lastSeenOffset = offset;
        return true;
    }

    /** Forgets everything polled and restarts at {@code start} (after a seek). */
    public void reset(Position start) {
        pending.clear();
        pendingExamples = 0;
        trainedOffset = start.offset();
        trainedSkip = start.skip();
        lastSeenOffset = -1;
        epoch++;
    }

    /** Changes on every {@link #reset}; see {@link #peek}. */
    public long epoch() {
        return epoch;
    }

    /**
     * Appends the next {@code n} untrained examples to {@code batch} and advances the position past them.
     * Requires {@code n <= available()}.
     */
    public Range take(int n, Examples batch) {
        return walk(n, Objects.requireNonNull(batch, "batch"), true);
    }

    /**
     * Appends the next {@code n} untrained examples to {@code batch} without consuming them: the position
     * stays where it is. Until the next {@link #reset} ({@link #epoch()} changes) or {@link #take}/{@link
     * #advance}, the batch is exactly what {@code take(n, ...)} would give. Requires {@code n <= available()}.
     */
    public Range peek(int n, Examples batch) {
        return walk(n, Objects.requireNonNull(batch, "batch"), false);
    }

    /**
     * Consumes the next {@code n} untrained examples without copying them, for a batch already filled by
     * {@link #peek} at the current position and epoch. Requires {@code n <= available()}.
     */
    public Range advance(int n) {
        return walk(n, null, true);
    }

    /** Copies (where {@code batch} is given) and, where {@code consume}, trains past the next {@code n} examples. */
    private Range walk(int n, Examples batch, boolean consume) {
        if (n < 1 || n > pendingExamples) {
            throw new IllegalStateException("asked for " + n + " examples, " + pendingExamples + " are pending");
        }
        Chunk head = pending.peekFirst();
        Position from = new Position(head.offset, head.used);
        Iterator<Chunk> chunks = pending.iterator();
        long toOffset = trainedOffset;
        int toSkip = trainedSkip;
        int left = n;
        while (left > 0) {
            Chunk c = chunks.next();
            int k = Math.min(left, c.examples.count - c.used);
            if (batch != null) copy(c.examples, c.used, k, batch);
            left -= k;
            int used = c.used + k;
            if (used == c.examples.count) {
                toOffset = c.offset + 1;
                toSkip = 0;
            } else {
                toOffset = c.offset;
                toSkip = used;
            }
            if (consume) {
                c.used = used;
                pendingExamples -= k;
                if (used == c.examples.count) chunks.remove();
            }
        }
        if (consume) {
            trainedOffset = toOffset;
            trainedSkip = toSkip;
        }
        return new Range(partition, from, new Position(toOffset, toSkip));
    }

    private static void copy(Examples src, int from, int n, Examples dst) {
        dst.ensureCapacity(dst.count + n);
        int at = dst.count;
        System.arraycopy(src.labels, from, dst.labels, at, n);
        System.arraycopy(src.dense, from * src.numDense, dst.dense, at * dst.numDense, n * src.numDense);
        System.arraycopy(src.sparse, from * src.numSparse, dst.sparse, at * dst.numSparse, n * src.numSparse);
        System.arraycopy(src.eventTimes, from, dst.eventTimes, at, n);
        if (at == 0) dst.layoutId = src.layoutId;
        dst.count += n;
    }
}
