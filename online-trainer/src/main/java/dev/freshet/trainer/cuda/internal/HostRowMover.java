package dev.freshet.trainer.cuda.internal;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The host's share of the GPU cache's copy-engine swap: a plan's {@code n} swap entries arrive packed from
 * the GPU ({@code cache_pack} in DlrmKernels.cu), the evicted rows go into the host tables and the rows to
 * load are gathered for the way back ({@code cache_unpack}). Packed layouts, entry e of n, D floats a row:
 * <pre>
 *   down (GPU to host)  int evicted row [e] (-1: the slot was empty) | int loaded row [n + e] |
 *                       float evicted weights [2n + eD, 2n + eD + D) | float evicted accumulator [2n + nD + e]
 *   up   (host to GPU)  float loaded weights [eD, eD + D) | float loaded accumulator [nD + e]
 * </pre>
 * (the accumulators only with row-wise Adagrad). Random rows of tables far larger than the CPU caches cost a
 * memory round trip each, so a few threads share the entries; a small daemon pool that the cache owns.
 */
final class HostRowMover implements AutoCloseable {
    /** Below this many entries per thread the hand-off costs more than the copies it spreads. */
    private static final int MIN_ENTRIES_PER_TASK = 1024;
    private static final AtomicInteger POOLS = new AtomicInteger();

    private final int threads;
    private final ExecutorService pool;

    /** @param threads threads that copy at once, the caller's included */
    HostRowMover(int threads) {
        if (threads < 1) throw new IllegalArgumentException("the cache's host row copies need at least 1 thread, got " + threads);
        this.threads = threads;
        int id = POOLS.incrementAndGet();
        AtomicInteger n = new AtomicInteger();
        this.pool = threads == 1 ? null : Executors.newFixedThreadPool(threads - 1, r -> {
            Thread t = new Thread(r, "freshet-cache-rows-" + id + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Threads for this machine: all but two of its cores (the trainer's and the JVM's), at most 16. Each thread
     * waits on one row's memory round trip at a time, so more threads keep more rows in flight.
     */
    static int threadsForThisMachine() {
        return Math.max(1, Math.min(16, Runtime.getRuntime().availableProcessors() - 2));
    }

    static long downBytes(long n, int dim, boolean accum) {
        return 4 * n * (2 + dim + (accum ? 1 : 0));
    }

    static long upBytes(long n, int dim, boolean accum) {
        return 4 * n * (dim + (accum ? 1 : 0));
    }

    /*
     * A plan's entries move in two parts, the loaded rows (gather) and the evicted ones (writeBack), which may run
     * apart and in either order: no entry's evicted row is another's loaded row (a plan evicts cached rows and loads
     * missing ones), so the entries may move in any order. Each returns when every row of its part has moved.
     */

    /** The loaded rows of {@code n} entries, from {@code table} (and {@code accum}) into {@code up}. */
    void gather(int n, ByteBuffer down, ByteBuffer up, RowChunks table, RowChunks accum) {
        int loadedAccumAt = 4 * n * table.dim();
        inParallel(n, (from, to) -> {
            table.gather(up, 0, down, 4 * n, from, to);
            if (accum != null) accum.gather(up, loadedAccumAt, down, 4 * n, from, to);
        });
    }

    /** The evicted rows of {@code n} entries, from {@code down} into {@code table} (and {@code accum}). */
    void writeBack(int n, ByteBuffer down, RowChunks table, RowChunks accum) {
        int evictedAt = 8 * n, evictedAccumAt = evictedAt + 4 * n * table.dim();
        inParallel(n, (from, to) -> {
            table.scatter(down, evictedAt, down, 0, from, to);
            if (accum != null) accum.scatter(down, evictedAccumAt, down, 0, from, to);
        });
    }

    private interface Part {
        void run(int from, int to);
    }

    /** Runs {@code part} over [0, n) split between the threads; returns when every share has ended. */
    private void inParallel(int n, Part part) {
        int tasks = Math.max(1, Math.min(threads, n / MIN_ENTRIES_PER_TASK));
        List<Future<?>> running = new ArrayList<>(tasks - 1);
        try {
            for (int t = 0; t < tasks; t++) {
                int from = (int) ((long) n * t / tasks), to = (int) ((long) n * (t + 1) / tasks);
                if (t == tasks - 1) part.run(from, to);
                else running.add(pool.submit(() -> part.run(from, to)));
            }
        } finally {
            // every part has ended before the caller hands the buffers to a copy (also when one failed)
            RuntimeException failure = null;
            boolean interrupted = false;
            for (Future<?> f : running) {
                while (true) {
                    try {
                        f.get();
                        break;
                    } catch (ExecutionException e) {
                        if (failure == null) failure = new IllegalStateException("moving GPU cache rows in host memory failed: " + e.getCause(), e.getCause());
                        break;
                    } catch (InterruptedException e) {
                        interrupted = true; // the part still runs: wait for it all the same
                    }
                }
            }
            if (interrupted) Thread.currentThread().interrupt();
            if (failure != null) throw failure;
        }
    }

    @Override
    public void close() {
        if (pool != null) pool.shutdownNow();
    }
}
