package dev.freshet.trainer.cpu;

import dev.freshet.trainer.model.ParallelFor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of threads that run one parallel loop at a time, for the training step: the calling
 * thread takes part (range 0) and {@code threads - 1} daemon workers take the rest. Dispatch is a
 * volatile generation counter plus park/unpark, so a loop allocates nothing (an executor would
 * allocate a future per task). Every worker takes part in every loop, possibly with an empty range,
 * so that a loop cannot start while a worker still sits in the previous one.
 *
 * <p>Range {@code k} of {@code p} is {@code [n k / p, n (k + 1) / p)}; an exception in any range is
 * rethrown to the caller once all ranges are done.
 */
final class WorkerPool implements ParallelFor, AutoCloseable {
    private final int threads;
    private final Thread[] workers;
    private final AtomicInteger remaining = new AtomicInteger();
    private volatile long generation;
    private volatile boolean closed;
    private volatile Throwable failure;
    private RangeTask task;
    private int n;
    private Thread caller;

    WorkerPool(int threads, String name) {
        if (threads < 1) throw new IllegalArgumentException("thread count " + threads + " must be >= 1");
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        for (int w = 0; w < workers.length; w++) {
            int part = w + 1;
            workers[w] = new Thread(() -> work(part), name + "-" + part);
            workers[w].setDaemon(true);
            workers[w].start();
        }
    }

    @Override
    public int parallelism() {
        return threads;
    }

    @Override
    public void run(int count, RangeTask rangeTask) {
        if (closed) throw new IllegalStateException("worker pool is closed");
        if (threads == 1 || count <= 1) {
            if (count > 0) rangeTask.run(0, count);
            return;
        }
        this.task = rangeTask;
        this.n = count;
        this.caller = Thread.currentThread();
        this.failure = null;
        remaining.set(workers.length);
        generation++; // volatile write: publishes task, n and caller to the workers
        for (Thread w : workers) LockSupport.unpark(w);
        Throwable own = null;
        try {
            runPart(0);
        } catch (Throwable t) {
            own = t;
        }
        while (remaining.get() != 0) {
            LockSupport.park(this);
        }
        Throwable t = own != null ? own : failure;
        if (t instanceof RuntimeException r) throw r;
        if (t instanceof Error e) throw e;
        if (t != null) throw new IllegalStateException(t);
    }

    private void runPart(int part) {
        int from = (int) ((long) n * part / threads);
        int to = (int) ((long) n * (part + 1) / threads);
        if (from < to) task.run(from, to);
    }

    private void work(int part) {
        long seen = 0;
        while (!closed) {
            long g = generation;
            if (g == seen) {
                LockSupport.park(this);
                continue;
            }
            seen = g;
            try {
                runPart(part);
            } catch (Throwable t) {
                failure = t;
            }
            if (remaining.decrementAndGet() == 0) {
                LockSupport.unpark(caller);
            }
        }
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Thread w : workers) LockSupport.unpark(w);
    }
}
