package dev.freshet.trainer.cpu;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class WorkerPoolTest {

    @Test
    void everyIndexRunsExactlyOnceAcrossManyLoopsAndSizes() {
        try (WorkerPool pool = new WorkerPool(3, "test-pool")) {
            for (int n : new int[]{0, 1, 2, 3, 7, 100, 1000}) {
                AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(n, 1));
                for (int loop = 0; loop < 200; loop++) {
                    pool.run(n, (from, to) -> {
                        for (int i = from; i < to; i++) hits.incrementAndGet(i);
                    });
                }
                for (int i = 0; i < n; i++) assertEquals(200, hits.get(i), "index " + i + " of " + n);
            }
        }
    }

    @Test
    void anExceptionInAWorkersRangeReachesTheCallerAndThePoolKeepsWorking() {
        try (WorkerPool pool = new WorkerPool(2, "test-pool")) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> pool.run(10, (from, to) -> {
                if (from >= 5) throw new IllegalStateException("range " + from + ".." + to);
            }));
            assertEquals("range 5..10", e.getMessage());
            int[] sum = new int[1];
            pool.run(10, (from, to) -> {
                synchronized (sum) {
                    for (int i = from; i < to; i++) sum[0] += i;
                }
            });
            assertEquals(45, sum[0]);
        }
        WorkerPool closed = new WorkerPool(2, "test-pool");
        closed.close();
        closed.close();
        assertThrows(IllegalStateException.class, () -> closed.run(4, (from, to) -> { }));
    }
}
