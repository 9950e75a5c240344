package dev.freshet.trainer.cpu;

import org.junit.jupiter.api.Test;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
    void theCallerRunsEveryChunkThatNoWorkerHasClaimed() throws InterruptedException {
        // The worker holds the first chunk it claims until the caller has run all the others: with one fixed range per
        // thread the caller would wait for the worker's half instead, and the worker's wait would time out.
        int chunks = 2 * WorkerPool.CHUNKS_PER_THREAD;
        Thread caller = Thread.currentThread();
        AtomicInteger workerTimedOut = new AtomicInteger();
        try (WorkerPool pool = new WorkerPool(2, "test-pool")) {
            for (int loop = 0; loop < 20; loop++) {
                CountDownLatch done = new CountDownLatch(chunks - 1);
                AtomicInteger mine = new AtomicInteger();
                pool.run(chunks, (from, to) -> {
                    if (Thread.currentThread() == caller) {
                        mine.incrementAndGet();
                        done.countDown();
                    } else {
                        try {
                            if (!done.await(30, TimeUnit.SECONDS)) workerTimedOut.incrementAndGet();
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                });
                assertTrue(mine.get() >= chunks - 1, "loop " + loop + ": the caller ran " + mine.get() + " of " + chunks + " chunks");
            }
        }
        assertEquals(0, workerTimedOut.get(), "the worker waited in vain for the caller to run the other chunks");
    }

    @Test
    void anExceptionInAWorkersRangeReachesTheCallerAndThePoolKeepsWorking() {
        try (WorkerPool pool = new WorkerPool(2, "test-pool")) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> pool.run(10, (from, to) -> {
                if (to == 10) throw new IllegalStateException("range " + from + ".." + to);
            }));
            // 10 indices in 8 chunks: the last chunk is [8, 10), whichever thread claimed it
            assertEquals("range 8..10", e.getMessage());
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
