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
    void batchesCutAcrossRecordsAndPositionsPointInsideThem() {
        PartitionCursor c = new PartitionCursor(TP, new PartitionCursor.Position(10, 0));
        assertTrue(c.offer(10, record(10, 5)));
        assertTrue(c.offer(12, record(12, 5))); // offset 11 was a transaction marker or a refused record
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
        assertFalse(c.offer(11, record(11, 5)), "before the position");
        assertTrue(c.offer(12, record(12, 5)));
        assertFalse(c.offer(12, record(12, 5)), "delivered twice");
        assertEquals(3, c.available());
        Examples batch = new Examples(3, 1, 1);
        c.take(3, batch);
        assertArrayEquals(new int[]{1202, 1203, 1204}, ids(batch));
        assertEquals(12f, batch.dense[0], 0.1f);
        assertEquals(12_002L, batch.eventTimes[0]);

        c.reset(new PartitionCursor.Position(12, 4));
        assertTrue(c.offer(12, record(12, 5)));
        assertEquals(1, c.available());
        assertFalse(new PartitionCursor(TP, new PartitionCursor.Position(12, 5)).offer(12, record(12, 5)), "nothing left of that record");
    }
}
