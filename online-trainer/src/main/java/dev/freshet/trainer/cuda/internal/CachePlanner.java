package dev.freshet.trainer.cuda.internal;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The directory and replacement policy of the GPU embedding cache, in plain Java (no GPU needed, so
 * it is unit-tested on its own). After the frequency-aware software cache of Colossal-AI's
 * CachedEmbeddingBag (2022: "keeping 1.5% of embedding parameters on the GPU still gives decent
 * end-to-end speed"): the hot rows stay on the GPU, chosen by access counts from the stream itself and
 * from the feature-stats heavy hitters.
 *
 * <p>{@link #plan} takes the rows one batch needs, known before the batch trains (lookahead: the batch
 * was already polled), and returns for every lookup the cache slot that will hold its row, plus the
 * swaps that make it so: for each slot, the row to write back (evict) and the row to load. Rows of the
 * batches still in flight are pinned and never chosen as victims, so a swap never touches a slot a
 * running step uses, and an evicted row is written back before any later load of it (the swaps run in
 * order on one stream): a row evicted and re-read carries every update made to it.
 *
 * <p>Victims: sampled LFU (a few random unpinned slots, the least-counted row goes), as Redis'
 * approximated LFU, with counts halved every {@code agingSteps} steps so that a hot set that moves
 * away is evicted in time. The rows are split into partitions by hash, each with its own slots and
 * thread, so planning a large batch runs on all cores while the GPU trains the previous one.
 */
public final class CachePlanner implements AutoCloseable {
    private static final int SAMPLES = 8;
    private static final int SEQUENTIAL_BELOW = 1 << 13;

    private final long[] tableOffset;
    private final int tables;
    private final int capacity;
    private final int partitions;
    /** Partition of a row: the top log2(partitions) bits of a multiplicative hash. */
    private final int partitionShift;
    /**
     * Per global row r: [2r] its cache slot or -1, [2r+1] its access count. Interleaved so that the one
     * random access per lookup (the tables are far larger than the CPU caches) brings both.
     */
    private final int[] rowInfo;
    private final int[] slotToRow;
    private final long[] slotStep;
    private final int[] nextFree;
    private final int[] partitionStart;
    private final long[] rng;
    private final int agingSteps;
    private final ExecutorService pool;
    private long lookups;
    private long misses;
    private long planNanos;
    private long plans;

    /** What one batch needs: slot per lookup, and the swaps (evict then load) that must run before it trains. */
    public record Plan(long step, int[] slots, int lookups, int swaps, int[] swapSlots, int[] evictRows, int[] loadRows) {
        public int misses() {
            return swaps;
        }
    }

    public CachePlanner(long[] tableRows, int capacity, int threads, int agingSteps) {
        this.tables = tableRows.length;
        this.tableOffset = new long[tables + 1];
        for (int t = 0; t < tables; t++) tableOffset[t + 1] = tableOffset[t] + tableRows[t];
        long total = tableOffset[tables];
        if (2 * total > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("the GPU cache addresses at most " + Integer.MAX_VALUE / 2 + " rows in all; the tables have " + total);
        }
        if (capacity < 1 || capacity > total) {
            throw new IllegalArgumentException("GPU cache capacity " + capacity + " rows outside 1.." + total + " (the rows of all tables)");
        }
        this.capacity = capacity;
        int parts = 1;
        while (parts * 2 <= Math.min(threads, capacity / 1024 + 1)) parts *= 2;
        this.partitions = parts;
        this.partitionShift = 32 - Integer.numberOfTrailingZeros(parts);
        this.rowInfo = new int[(int) (2 * total)];
        for (int r = 0; r < total; r++) rowInfo[2 * r] = -1;
        this.slotToRow = new int[capacity];
        Arrays.fill(slotToRow, -1);
        this.slotStep = new long[capacity];
        Arrays.fill(slotStep, Long.MIN_VALUE);
        this.partitionStart = new int[partitions + 1];
        for (int p = 0; p <= partitions; p++) partitionStart[p] = (int) ((long) capacity * p / partitions);
        this.nextFree = Arrays.copyOf(partitionStart, partitions);
        this.rng = new long[partitions];
        for (int p = 0; p < partitions; p++) rng[p] = 0x9E3779B97F4A7C15L * (p + 1);
        this.agingSteps = agingSteps;
        this.pool = partitions > 1 ? Executors.newFixedThreadPool(partitions, r -> {
            Thread t = new Thread(r, "freshet-cache-planner");
            t.setDaemon(true);
            return t;
        }) : null;
    }

    public int capacity() {
        return capacity;
    }

    public long totalRows() {
        return tableOffset[tables];
    }

    /** Global row number of {@code row} of table {@code table} (the host store's row index). */
    public long globalRow(int table, int row) {
        return tableOffset[table] + row;
    }

    /** Adds heavy-hitter counts from feature-stats (IdFrequencyStats) to the access counts. */
    public void addCounts(int table, long[] rows, long[] rowCounts) {
        for (int i = 0; i < rows.length; i++) {
            long r = rows[i];
            if (r < 0 || r >= tableOffset[table + 1] - tableOffset[table]) continue;
            int g = (int) (tableOffset[table] + r);
            rowInfo[2 * g + 1] = (int) Math.min(Integer.MAX_VALUE, rowInfo[2 * g + 1] + rowCounts[i]);
        }
    }

    /**
     * Plans one batch: {@code ids[b * T + t]} is example b's row of table t (validated by the caller).
     * {@code step} is this plan's ticket (increasing from plan to plan); its rows are pinned with it. Slots
     * pinned by tickets {@code >= oldestLiveStep} (batches planned but not yet trained, and this one) are
     * never evicted.
     */
    public Plan plan(int[] ids, int examples, long step, long oldestLiveStep) {
        int n = examples * tables;
        int[] slots = new int[n];
        int[] rows = new int[n];
        byte[] owner = new byte[n];
        if (agingSteps > 0 && step > 0 && step % agingSteps == 0) age();
        long t0 = System.nanoTime();
        List<int[][]> parts = new ArrayList<>(partitions);
        if (pool == null || n < SEQUENTIAL_BELOW) {
            // small batches: handing work to threads costs more than it saves
            resolve(ids, rows, owner, 0, n);
            for (int p = 0; p < partitions; p++) parts.add(planPartition(p, rows, owner, n, step, oldestLiveStep));
            assign(rows, slots, 0, n);
        } else {
            // three parallel phases, each writing only what it owns (no cache line written by two threads):
            // every lookup's global row and partition (by chunks), the partitions' directory work (by
            // partition), the slot of every lookup (by chunks). Smaller batches use fewer tasks: handing work
            // to a thread costs some microseconds.
            int tasks = (int) Math.max(1, Math.min(partitions, n / 2048L));
            int chunk = (n + tasks - 1) / tasks;
            List<Future<?>> chunks = new ArrayList<>(tasks);
            int[][] perChunk = new int[tasks][partitions];
            for (int c = 0; c < tasks; c++) {
                int from = Math.min(n, c * chunk), to = Math.min(n, from + chunk);
                int[] count = perChunk[c];
                chunks.add(pool.submit(() -> {
                    resolve(ids, rows, owner, from, to);
                    for (int i = from; i < to; i++) count[owner[i]]++;
                }));
            }
            await(chunks);
            List<Future<List<int[][]>>> futures = new ArrayList<>(tasks);
            for (int g = 0; g < tasks; g++) {
                int group = g, stride = tasks;
                futures.add(pool.submit(() -> {
                    List<int[][]> mine = new ArrayList<>();
                    for (int p = group; p < partitions; p += stride) mine.add(planPartition(p, rows, owner, n, step, oldestLiveStep));
                    return mine;
                }));
            }
            for (Future<List<int[][]>> f : futures) {
                try {
                    parts.addAll(f.get());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while planning the GPU cache", e);
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof RuntimeException re) throw re;
                    throw new IllegalStateException(e.getCause());
                }
            }
            // each partition listed its lookups' slots in lookup order: a chunk's lookups of partition p start
            // where the earlier chunks' lookups of p end, so every read and write here is sequential
            int[][] local = new int[partitions][];
            for (int[][] part : parts) local[part[5][0]] = part[4];
            chunks.clear();
            int[] running = new int[partitions];
            for (int c = 0; c < tasks; c++) {
                int from = Math.min(n, c * chunk), to = Math.min(n, from + chunk);
                int[] cursor = running.clone();
                for (int q = 0; q < partitions; q++) running[q] += perChunk[c][q];
                chunks.add(pool.submit(() -> {
                    for (int i = from; i < to; i++) {
                        int q = owner[i];
                        slots[i] = local[q][cursor[q]++];
                    }
                }));
            }
            await(chunks);
        }
        int swaps = 0;
        for (int[][] p : parts) swaps += p[3][0];
        int[] swapSlots = new int[swaps], evict = new int[swaps], load = new int[swaps];
        int at = 0;
        for (int[][] p : parts) {
            int k = p[3][0];
            System.arraycopy(p[0], 0, swapSlots, at, k);
            System.arraycopy(p[1], 0, evict, at, k);
            System.arraycopy(p[2], 0, load, at, k);
            at += k;
        }
        lookups += n;
        misses += swaps;
        planNanos += System.nanoTime() - t0;
        plans++;
        return new Plan(step, slots, n, swaps, swapSlots, evict, load);
    }

    private void resolve(int[] ids, int[] rows, byte[] owner, int from, int to) {
        for (int i = from; i < to; i++) {
            int row = (int) (tableOffset[i % tables] + ids[i]);
            rows[i] = row;
            // blocks of 64 rows share a partition, so that no cache line of rowInfo is written by two threads
            owner[i] = partitions == 1 ? 0 : (byte) (((row >>> 6) * 0x9E3779B9) >>> partitionShift);
        }
    }

    private static void await(List<Future<?>> futures) {
        for (Future<?> f : futures) {
            try {
                f.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while planning the GPU cache", e);
            } catch (ExecutionException e) {
                if (e.getCause() instanceof RuntimeException re) throw re;
                throw new IllegalStateException(e.getCause());
            }
        }
    }

    /** After planning every row of the batch is cached and pinned: a lookup's slot is its row's. */
    private void assign(int[] rows, int[] slots, int from, int to) {
        for (int i = from; i < to; i++) slots[i] = rowInfo[rows[i] << 1];
    }

    /**
     * One partition's directory work. Returns {swap slots, evicted rows, loaded rows, {swap count}, the slot of
     * each of its lookups in lookup order, {p}}.
     */
    private int[][] planPartition(int p, int[] rows, byte[] owner, int n, long step, long oldestLiveStep) {
        int cap = 256;
        int[] sSlot = new int[cap], sEvict = new int[cap], sLoad = new int[cap];
        int[] local = new int[Math.max(16, n / partitions + n / (4 * partitions))];
        int[] missed = new int[64];
        int misses = 0;
        int mineCount = 0;
        int k = 0;
        byte mine = (byte) p;
        // Pass 1: count every lookup, and pin every cached row of this batch before any victim is chosen, so
        // that no row the batch needs is evicted to make room for another of its rows (the swap kernel runs
        // its entries in parallel: a row evicted and loaded by one plan could be read before its write-back).
        for (int i = 0; i < n; i++) {
            if (owner[i] != mine) continue;
            int r2 = rows[i] << 1;
            int c = rowInfo[r2 + 1];
            if (c < Integer.MAX_VALUE) rowInfo[r2 + 1] = c + 1;
            int s = rowInfo[r2];
            if (mineCount == local.length) local = Arrays.copyOf(local, mineCount * 2);
            if (s >= 0) {
                slotStep[s] = step;
            } else {
                if (misses + 2 > missed.length) missed = Arrays.copyOf(missed, missed.length * 2);
                missed[misses++] = mineCount;
                missed[misses++] = rows[i];
            }
            local[mineCount++] = s;
        }
        // Pass 2: the misses (a row missed twice by the batch is loaded once)
        for (int m = 0; m < misses; m += 2) {
            int at = missed[m], row = missed[m + 1];
            int s = rowInfo[row << 1];
            if (s < 0) {
                s = victim(p, oldestLiveStep);
                int old = slotToRow[s];
                if (old >= 0) rowInfo[old << 1] = -1;
                rowInfo[row << 1] = s;
                slotToRow[s] = row;
                if (k == cap) {
                    cap *= 2;
                    sSlot = Arrays.copyOf(sSlot, cap);
                    sEvict = Arrays.copyOf(sEvict, cap);
                    sLoad = Arrays.copyOf(sLoad, cap);
                }
                sSlot[k] = s;
                sEvict[k] = old;
                sLoad[k] = row;
                k++;
            }
            slotStep[s] = step;
            local[at] = s;
        }
        return new int[][]{sSlot, sEvict, sLoad, {k}, local, {p}};
    }

    private int victim(int p, long oldestLiveStep) {
        int lo = partitionStart[p], hi = partitionStart[p + 1];
        if (nextFree[p] < hi) return nextFree[p]++;
        int size = hi - lo;
        int best = -1;
        int bestCount = Integer.MAX_VALUE;
        long x = rng[p];
        for (int tries = 0; tries < 4 * SAMPLES && (best < 0 || tries < SAMPLES); tries++) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            int s = lo + (int) Long.remainderUnsigned(x, size);
            if (slotStep[s] >= oldestLiveStep) continue;
            int c = rowInfo[(slotToRow[s] << 1) + 1];
            if (c < bestCount) {
                bestCount = c;
                best = s;
            }
        }
        rng[p] = x;
        if (best >= 0) return best;
        for (int s = lo; s < hi; s++) {
            if (slotStep[s] < oldestLiveStep) return s;
        }
        throw new IllegalStateException("GPU embedding cache too small: all " + size + " slots of partition " + p
                + " hold rows of the batches in flight. Fix: raise trainer.cuda.cache-fraction (or cache-rows) above "
                + capacity + " rows, or lower model.batch-size");
    }

    private void age() {
        for (int s = 0; s < capacity; s++) {
            int r = slotToRow[s];
            if (r >= 0) rowInfo[(r << 1) + 1] >>>= 1;
        }
    }

    /** The cache slot holding global row {@code globalRow}, or -1. */
    public int slotOf(long globalRow) {
        return rowInfo[(int) globalRow << 1];
    }

    /** The global row in {@code slot}, or -1 when the slot is free. */
    public int rowIn(int slot) {
        return slotToRow[slot];
    }

    /** Forgets every cached row (after the host tables were replaced); the GPU copies are then garbage. */
    public void invalidate() {
        for (int r = 0; r < rowInfo.length; r += 2) rowInfo[r] = -1;
        Arrays.fill(slotToRow, -1);
        Arrays.fill(slotStep, Long.MIN_VALUE);
        System.arraycopy(partitionStart, 0, nextFree, 0, partitions);
    }

    public long lookups() {
        return lookups;
    }

    public long misses() {
        return misses;
    }

    /** 1 - rows loaded / lookups: a row looked up twice by one batch is loaded (missed) at most once. */
    public double hitRate() {
        return lookups == 0 ? 0 : 1.0 - (double) misses / lookups;
    }

    /** Mean wall time of one plan since the last reset, in milliseconds. */
    public double meanPlanMillis() {
        return plans == 0 ? 0 : planNanos / 1e6 / plans;
    }

    public void resetStats() {
        lookups = 0;
        misses = 0;
        planNanos = 0;
        plans = 0;
    }

    @Override
    public void close() {
        if (pool != null) pool.shutdownNow();
    }
}
