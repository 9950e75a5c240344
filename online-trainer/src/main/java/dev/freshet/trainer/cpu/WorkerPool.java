package dev.freshet.trainer.cpu;

import dev.freshet.trainer.model.ParallelFor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of threads that run one parallel loop at a time, for the training step: the calling
 * thread and {@code threads - 1} daemon workers. A loop is cut into up to {@value #CHUNKS_PER_THREAD}
 * chunks per thread, and each thread claims the next unclaimed chunk until none is left; the caller
 * then waits only for chunks a worker has claimed and not yet finished. A loop allocates nothing
 * (an executor would allocate a future per task).
 *
 * <p><b>Why chunks are claimed, not assigned.</b> With one fixed range per thread, the caller waited at
 * every loop for each worker to be woken and scheduled. A step has about 25 loops of well under a
 * millisecond each, and where the cores are busy with other work (the embedded pipeline runs broker, Flink
 * job, publisher and replica on the same two cores) a woken worker waits for a core for milliseconds: in
 * the pipeline benchmark at 10,000 events/s the trainer's caller thread spent 1.5-2.5 s of every 5-6 s
 * waiting at these barriers against 0.5-0.9 s of its own CPU, and a step of 512 took 40-80 ms of wall time
 * for 8-11 ms of the caller's CPU (with claimed chunks: 0.2-0.4 s of waiting, steps of 20-40 ms). A worker
 * that is not running yet simply finds no chunk left when it wakes, so the loop runs at the speed of the
 * threads that actually got a core. On an idle machine the two designs measured alike (trainer-cpu,
 * default model, batch 512: within the run-to-run spread of about 15%).
 *
 * <p>Which thread runs a chunk depends on timing, but the arches let one chunk own each output element and
 * compute it in a fixed order ({@link ParallelFor}), so the results are bit-identical whatever the split.
 * An exception in any chunk is rethrown to the caller once every claimed chunk is done.
 */
final class WorkerPool implements ParallelFor, AutoCloseable {
    /** Chunks per thread: enough that a late or descheduled thread leaves little for the others to wait on. */
    static final int CHUNKS_PER_THREAD = 4;
    private static final int GENERATION_SHIFT = 32;
    private static final long UNCLAIMED_MASK = 0xFFFF_FFFFL;

    private final int threads;
    private final Thread[] workers;
    /**
     * The loop's generation (upper 32 bits) and its chunks not yet claimed (lower 32 bits). A thread claims
     * a chunk by a compare-and-set that lowers the count within the same generation, so it can never claim
     * a chunk of a loop whose fields it has not seen; the value repeats only after 2^32 loops, so there is no ABA.
     */
    private final AtomicLong claims = new AtomicLong();
    /** Chunks of the current loop finished (or failed); the loop is over when it reaches {@link #chunks}. */
    private final AtomicInteger finished = new AtomicInteger();
    private volatile boolean closed;
    private volatile Throwable failure;
    private volatile boolean callerWaiting;
    // Written by the caller before it publishes a generation in claims, read by a thread after it claimed a
    // chunk of that generation (the caller cannot start the next loop before that chunk is finished).
    private RangeTask task;
    private int n;
    private int chunks;
    private Thread caller;
    private final int nice;
    /** The last thread that called run() and was given the pool's niceness. */
    private Thread nicedCaller;

    WorkerPool(int threads, String name) {
        this(threads, name, 0);
    }

    /** {@code nice} above 0: the workers, and each thread that calls {@link #run}, run at that niceness (ThreadNiceness). */
    WorkerPool(int threads, String name, int nice) {
        if (threads < 1) throw new IllegalArgumentException("thread count " + threads + " must be >= 1");
        this.threads = threads;
        this.nice = nice;
        this.workers = new Thread[threads - 1];
        for (int w = 0; w < workers.length; w++) {
            workers[w] = new Thread(this::work, name + "-" + (w + 1));
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
        if (nice > 0 && nicedCaller != Thread.currentThread()) {
            nicedCaller = Thread.currentThread();
            ThreadNiceness.apply(nice);
        }
        if (threads == 1 || count <= 1) {
            if (count > 0) rangeTask.run(0, count);
            return;
        }
        this.task = rangeTask;
        this.n = count;
        this.chunks = Math.min(count, threads * CHUNKS_PER_THREAD);
        this.caller = Thread.currentThread();
        this.failure = null;
        finished.set(0);
        // 32 bits of generation: after 2^32 loops it wraps to 0, still unlike the one before
        long generation = ((claims.get() >>> GENERATION_SHIFT) + 1) & UNCLAIMED_MASK;
        claims.set(generation << GENERATION_SHIFT | chunks); // volatile write: publishes the fields above
        for (Thread w : workers) LockSupport.unpark(w);
        while (claimAndRun(generation)) {
            // the caller takes chunks like any worker
        }
        if (finished.get() != chunks) {
            // Only chunks a worker claimed are left, and they are running (or their thread waits for a core).
            callerWaiting = true;
            while (finished.get() != chunks) LockSupport.park(this);
            callerWaiting = false;
        }
        Throwable t = failure;
        if (t instanceof RuntimeException r) throw r;
        if (t instanceof Error e) throw e;
        if (t != null) throw new IllegalStateException(t);
    }

    /**
     * Claims the next chunk of {@code generation} and runs it; false when none is left (or a later loop began,
     * which the caller of a loop never sees). Returns only after the claimed chunk counted as finished.
     */
    private boolean claimAndRun(long generation) {
        while (true) {
            long c = claims.get();
            int unclaimed = (int) (c & UNCLAIMED_MASK);
            if (c >>> GENERATION_SHIFT != generation || unclaimed == 0) return false;
            if (!claims.compareAndSet(c, c - 1)) continue;
            int total = chunks;
            int chunk = total - unclaimed;
            try {
                int from = (int) ((long) n * chunk / total);
                int to = (int) ((long) n * (chunk + 1) / total);
                if (from < to) task.run(from, to);
            } catch (Throwable t) {
                if (failure == null) failure = t;
            }
            if (finished.incrementAndGet() == total && callerWaiting) LockSupport.unpark(caller);
            return true;
        }
    }

    private void work() {
        ThreadNiceness.apply(nice);
        long seen = 0;
        while (!closed) {
            long generation = claims.get() >>> GENERATION_SHIFT;
            if (generation == seen) {
                LockSupport.park(this);
                continue;
            }
            while (claimAndRun(generation)) {
                // until this loop has no unclaimed chunk
            }
            seen = generation;
        }
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Thread w : workers) LockSupport.unpark(w);
    }
}
