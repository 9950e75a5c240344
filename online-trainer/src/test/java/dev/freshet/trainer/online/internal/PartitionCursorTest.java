package dev.freshet.trainer.online.internal;

import dev.freshet.features.Examples;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PartitionCursorTest {
    private static final TopicPartition TP = new TopicPartition("features", 3);

    /** A record of {@code n} examples whose labels and first sparse index encode (offset, example). */
    private static Examples record(long offset, int n) {
        Examples e = new Examples(n, 1, 1);
        for (int i = 0; i < n; i++) {
            e.sparse[i] = (int) (offset * 100 + i);
            e.dense[i] = offset + i / 100f;
            e.eventTimes[i] = offset * 1000 + i;
        }
        e.count = n;
        return e;
    }

    private static int[] ids(Examples batch) {
        return java.util.Arrays.copyOf(batch.sparse, batch.count);
    }

    @Test
    void theOldestPolledTimeIsTheRecordHoldingTheFirstUntrainedExample() {
        PartitionCursor c = new PartitionCursor(TP, new PartitionCursor.Position(10, 0));
        assertEquals(Long.MAX_VALUE, c.oldestPolledAt(), "nothing held");
        c.offer(10, record(10, 5), 1_000);
        c.offer(11, record(11, 5), 2_000);
        assertEquals(1_000, c.oldestPolledAt());
        c.take(4, new Examples(4, 1, 1));
        assertEquals(1_000, c.oldestPolledAt(), "record 10 still holds an untrained example");
        c.take(1, new Examples(1, 1, 1));
        assertEquals(2_000, c.oldestPolledAt());
        c.take(5, new Examples(5, 1, 1));
        assertEquals(Long.MAX_VALUE, c.oldestPolledAt());
    }

    @Test
    void batchesCutAcrossRecordsAndPositionsPointInsideThem() {
        PartitionCursor c = new PartitionCursor(TP, new PartitionCursor.Position(10, 0));
        assertTrue(c.offer(10, record(10, 5), 0));
        assertTrue(c.offer(12, record(12, 5), 0)); // offset 11 was a transaction marker or a refused record
        assertEquals(10, c.available());
        Examples batch = new Examples(7, 1, 1);
        PartitionCursor.Range r = c.take(7, batch);
        assertArrayEquals(new int[]{1000, 1001, 1002, 1003, 1004, 1200, 1201}, ids(batch));
        assertEquals("10:0", r.from().toString());
        assertEquals("12:2", r.to().toString());
        assertEquals(new PartitionCursor.Position(12, 2), c.position());
        batch.clear();
        c.take(3, batch);
        assertArrayEquals(new int[]{1202, 1203, 1204}, ids(batch));
        assertEquals(new PartitionCursor.Position(13, 0), c.position());
        assertEquals(0, c.available());
    }

    @Test
    void resumingInsideARecordSkipsItsTrainedExamplesAndDropsRedeliveries() {
        PartitionCursor c = new PartitionCursor(TP, PartitionCursor.Position.parse("12:2"));
        assertFalse(c.offer(11, record(11, 5), 0), "before the position");
        assertTrue(c.offer(12, record(12, 5), 0));
        assertFalse(c.offer(12, record(12, 5), 0), "delivered twice");
        assertEquals(3, c.available());
        Examples batch = new Examples(3, 1, 1);
        c.take(3, batch);
        assertArrayEquals(new int[]{1202, 1203, 1204}, ids(batch));
        assertEquals(12f, batch.dense[0], 0.1f);
        assertEquals(12_002L, batch.eventTimes[0]);

        c.reset(new PartitionCursor.Position(12, 4));
        assertTrue(c.offer(12, record(12, 5), 0));
        assertEquals(1, c.available());
        assertFalse(new PartitionCursor(TP, new PartitionCursor.Position(12, 5)).offer(12, record(12, 5), 0), "nothing left of that record");
    }

    @Test
    void peekCopiesTheNextBatchWithoutConsumingItAndAdvanceThenConsumesExactlyIt() {
        PartitionCursor c = new PartitionCursor(TP, PartitionCursor.Position.parse("10:3"));
        c.offer(10, record(10, 5), 0);
        c.offer(11, record(11, 4), 0);
        c.offer(13, record(13, 6), 0);
        Examples peeked = new Examples(6, 1, 1);
        PartitionCursor.Range ahead = c.peek(6, peeked);
        assertArrayEquals(new int[]{1003, 1004, 1100, 1101, 1102, 1103}, ids(peeked));
        assertEquals("10:3", ahead.from().toString());
        assertEquals("12:0", ahead.to().toString(), "the batch ends with record 11");
        assertEquals(new PartitionCursor.Position(10, 3), c.position(), "peek does not move the position");
        assertEquals(12, c.available());

        Examples taken = new Examples(6, 1, 1);
        PartitionCursor copy = new PartitionCursor(TP, PartitionCursor.Position.parse("10:3"));
        copy.offer(10, record(10, 5), 0);
        copy.offer(11, record(11, 4), 0);
        copy.offer(13, record(13, 6), 0);
        assertEquals(ahead, copy.take(6, taken), "take gives the same range");
        assertArrayEquals(ids(taken), ids(peeked));

        assertEquals(ahead, c.advance(6));
        assertEquals(new PartitionCursor.Position(12, 0), c.position());
        assertEquals(6, c.available());
        Examples rest = new Examples(4, 1, 1);
        PartitionCursor.Range inside = c.peek(4, rest);
        assertArrayEquals(new int[]{1300, 1301, 1302, 1303}, ids(rest));
        assertEquals("13:4", inside.to().toString());
        assertEquals(inside, c.advance(4));
        assertEquals(new PartitionCursor.Position(13, 4), c.position());
        assertEquals(2, c.available());
    }

    @Test
    void resetChangesTheEpochSoThatAnOldPeekIsNotMistakenForTheBatchDue() {
        PartitionCursor c = new PartitionCursor(TP, new PartitionCursor.Position(0, 0));
        c.offer(0, record(0, 4), 0);
        long before = c.epoch();
        c.peek(4, new Examples(4, 1, 1));
        c.reset(new PartitionCursor.Position(0, 0));
        assertEquals(0, c.available());
        assertTrue(c.epoch() != before);
    }
}
