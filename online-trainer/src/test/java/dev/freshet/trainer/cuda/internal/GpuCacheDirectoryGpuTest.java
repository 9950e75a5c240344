package dev.freshet.trainer.cuda.internal;

import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.OptimizerKind;
import dev.freshet.trainer.OptimizerSpec;
import dev.freshet.trainer.Precision;
import dev.freshet.trainer.TableSpec;
import dev.freshet.trainer.cuda.CudaOptions.CacheTransfer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The GPU-resident cache directory on its own: every lookup is given the slot that holds its row, the
 * directory stays a bijection between cached rows and slots, a lookahead plan never evicts the rows of
 * the batch in flight, frequently used rows stay cached while cold rows stream through, and a cache too
 * small for the batches in flight is reported; with either transfer mode. Fresh random ids on every run
 * (the seed is printed).
 */
@Tag("gpu")
class GpuCacheDirectoryGpuTest {
    private static final long[] ROWS = {5000, 300, 20000};
    @RegisterExtension
    static final GpuContextExtension GPU = new GpuContextExtension();

    private static ModelConfig config(int batch) {
        return new ModelConfig(List.of(new TableSpec("A", ROWS[0], 8), new TableSpec("B", ROWS[1], 8), new TableSpec("C", ROWS[2], 8)),
                2, 8, List.of(8), List.of(8, 1), OptimizerSpec.of(OptimizerKind.ROWWISE_ADAGRAD, 0.05f),
                OptimizerSpec.of(OptimizerKind.SGD, 0.01f), batch, 1, Precision.FP32);
    }

    /** Ids of one batch: a hot set of 20 rows per table in every example half the time, else uniform. */
    private static int[] batch(SplittableRandom r, int examples) {
        int[] ids = new int[examples * ROWS.length];
        for (int i = 0; i < ids.length; i++) {
            long rows = ROWS[i % ROWS.length];
            ids[i] = r.nextBoolean() ? r.nextInt((int) Math.min(20, rows)) : r.nextInt((int) rows);
        }
        return ids;
    }

    @ParameterizedTest
    @EnumSource(value = CacheTransfer.class, names = {"BUS", "COPY"})
    void lookupsGetTheirRowsAndLookaheadNeverEvictsTheBatchInFlight(CacheTransfer transfer) {
        long seed = System.nanoTime();
        System.out.println("GpuCacheDirectoryGpuTest seed " + seed);
        SplittableRandom r = new SplittableRandom(seed);
        int batch = 64, capacity = 600;
        ModelConfig config = config(batch);
        try (DlrmKernels k = new DlrmKernels(); DeviceModel model = new DeviceModel(config, k, capacity, batch);
             GpuEmbeddingCache cache = new GpuEmbeddingCache(k, model, ROWS, capacity, 7, true, transfer)) {
            int[] ids = batch(r, batch);
            GpuEmbeddingCache.Plan inFlight = cache.plan(ids, batch, 1, 1);
            int[] inFlightIds = ids;
            int[] inFlightSlots = cache.slotsOf(inFlight);
            Set<Integer> hot = new HashSet<>();
            for (int t = 0; t < ROWS.length; t++) for (int h = 0; h < 20; h++) hot.add((int) cache.globalRow(t, h));
            for (long ticket = 2; ticket <= 60; ticket++) {
                int[] nextIds = batch(r, batch);
                // the lookahead: planned while `inFlight` (ticket - 1) is still to train
                GpuEmbeddingCache.Plan next = cache.plan(nextIds, batch, ticket, ticket - 1);
                int[] nextSlots = cache.slotsOf(next);
                int[] slotRows = cache.slotRows();
                checkLookups(cache, inFlightIds, inFlightSlots, slotRows, "batch " + (ticket - 1) + " (in flight) after plan " + ticket);
                checkLookups(cache, nextIds, nextSlots, slotRows, "batch " + ticket);
                checkBijection(cache.rowSlots(), slotRows);
                cache.release(inFlight);
                inFlight = next;
                inFlightIds = nextIds;
                inFlightSlots = nextSlots;
            }
            // the hot rows are looked up in half of all lookups: they must all be cached at the end
            int[] rowSlots = cache.rowSlots();
            for (int row : hot) assertTrue(rowSlots[row] >= 0, "hot row " + row + " is not cached");
            double hitRate = cache.hitRate();
            System.out.printf("GpuCacheDirectoryGpuTest: %d lookups, hit rate %.3f%n", cache.lookups(), hitRate);
            assertTrue(hitRate > 0.4 && hitRate < 1, "hit rate " + hitRate);
        }
    }

    private static void checkLookups(GpuEmbeddingCache cache, int[] ids, int[] slots, int[] slotRows, String what) {
        for (int i = 0; i < ids.length; i++) {
            long row = cache.globalRow(i % ROWS.length, ids[i]);
            assertTrue(slots[i] >= 0 && slots[i] < cache.capacity(), what + ": lookup " + i + " has slot " + slots[i]);
            assertEquals(row, slotRows[slots[i]], what + ": lookup " + i + " (row " + row + ") is given slot " + slots[i]
                    + ", which holds row " + slotRows[slots[i]]);
        }
    }

    private static void checkBijection(int[] rowSlots, int[] slotRows) {
        int cachedRows = 0, fullSlots = 0;
        for (int row = 0; row < rowSlots.length; row++) {
            if (rowSlots[row] == -1) continue;
            cachedRows++;
            assertTrue(rowSlots[row] >= 0, "row " + row + " left in state " + rowSlots[row]);
            assertEquals(row, slotRows[rowSlots[row]], "row " + row + " -> slot " + rowSlots[row] + " -> row " + slotRows[rowSlots[row]]);
        }
        for (int s = 0; s < slotRows.length; s++) {
            if (slotRows[s] < 0) continue;
            fullSlots++;
            assertEquals(s, rowSlots[slotRows[s]], "slot " + s + " -> row " + slotRows[s] + " -> slot " + rowSlots[slotRows[s]]);
        }
        assertEquals(fullSlots, cachedRows, "cached rows and full slots");
    }

    /** Counts from feature-stats (addCounts) keep rows cached while rows seen as often by the stream itself go. */
    @ParameterizedTest
    @EnumSource(value = CacheTransfer.class, names = {"BUS", "COPY"})
    void hintedRowsOutliveRowsCountedOnlyByTheStream(CacheTransfer transfer) {
        int batch = 8, capacity = 60;
        ModelConfig config = config(batch);
        try (DlrmKernels k = new DlrmKernels(); DeviceModel model = new DeviceModel(config, k, capacity, batch);
             GpuEmbeddingCache cache = new GpuEmbeddingCache(k, model, ROWS, capacity, 0, true, transfer)) {
            long ticket = 0;
            int[] first = null;
            for (int p = 0; p < 8; p++) {
                // every plan looks up 24 rows never seen before: each counted once by the stream
                int[] ids = new int[batch * ROWS.length];
                for (int e = 0; e < batch; e++) {
                    for (int t = 0; t < ROWS.length; t++) ids[e * ROWS.length + t] = 100 + p * batch + e;
                }
                if (p == 0) first = ids;
                ticket++;
                cache.release(cache.plan(ids, batch, ticket, ticket));
                if (p == 0) cache.addCounts(2, new long[]{100, 101, 102, 103, -1, 999_999}, new long[]{500, 500, 500, 500, 9, 9});
            }
            // 192 distinct rows went through 60 slots: at least 132 evictions, none of them a hinted row
            assertEquals(8L * batch * ROWS.length, cache.misses(), "rows loaded");
            int[] rowSlots = cache.rowSlots();
            for (int e = 0; e < 4; e++) {
                long row = cache.globalRow(2, first[e * ROWS.length + 2]);
                assertTrue(rowSlots[(int) row] >= 0, "hinted row " + row + " was evicted");
            }
        }
    }

    /**
     * The victim sweep takes cold rows before hot ones even when the cold rows are few and scattered over a cache of
     * several sweep chunks: after the stream has gone through 3,000 slots, the rows in all but every tenth slot get
     * feature-stats counts of 1,000, and the plans after that must never evict one of them.
     */
    @ParameterizedTest
    @EnumSource(value = CacheTransfer.class, names = {"BUS", "COPY"})
    void scatteredColdRowsGoBeforeHotOnes(CacheTransfer transfer) {
        int batch = 64, capacity = 3000;
        ModelConfig config = config(batch);
        try (DlrmKernels k = new DlrmKernels(); DeviceModel model = new DeviceModel(config, k, capacity, batch);
             GpuEmbeddingCache cache = new GpuEmbeddingCache(k, model, ROWS, capacity, 0, true, transfer)) {
            long ticket = 0;
            int plan = 0;
            for (; plan < 50; plan++) cache.release(cache.plan(sweepBatch(plan, batch), batch, ++ticket, ticket));
            int[] slotRows = cache.slotRows();
            Set<Integer> hot = new HashSet<>();
            for (int s = 0; s < capacity; s++) if (slotRows[s] >= 0 && s % 10 != 0) hot.add(slotRows[s]);
            // the sweep may pass an empty slot by (past the misses of its plan), so not every slot need be full
            assertTrue(hot.size() > capacity / 2, "only " + hot.size() + " of the slots not numbered 0 mod 10 are full after 50 plans");
            for (int t = 0; t < ROWS.length; t++) {
                List<Long> rows = new java.util.ArrayList<>();
                for (int row : hot) if (row >= cache.globalRow(t, 0) && row < cache.globalRow(t, 0) + ROWS[t]) rows.add(row - cache.globalRow(t, 0));
                long[] r = rows.stream().mapToLong(Long::longValue).toArray();
                long[] counts = new long[r.length];
                java.util.Arrays.fill(counts, 1000);
                cache.addCounts(t, r, counts);
            }
            long before = cache.misses();
            for (; plan < 60; plan++) {
                cache.release(cache.plan(sweepBatch(plan, batch), batch, ++ticket, ticket));
                int[] rowSlots = cache.rowSlots();
                for (int row : hot) assertTrue(rowSlots[row] >= 0, "hot row " + row + " was evicted by plan " + ticket);
            }
            assertTrue(cache.misses() - before > 300, "the last 10 plans loaded only " + (cache.misses() - before) + " rows");
        }
    }

    /** Rows of tables A and C not looked up by earlier plans (table B's 300 rows come round again). */
    private static int[] sweepBatch(int plan, int examples) {
        int[] ids = new int[examples * ROWS.length];
        for (int e = 0; e < examples; e++) {
            for (int t = 0; t < ROWS.length; t++) ids[e * ROWS.length + t] = (int) ((plan * examples + e) % ROWS[t]);
        }
        return ids;
    }

    @ParameterizedTest
    @EnumSource(value = CacheTransfer.class, names = {"BUS", "COPY"})
    void aCacheTooSmallForTheBatchesInFlightIsReported(CacheTransfer transfer) {
        int batch = 64, capacity = 40;
        ModelConfig config = config(batch);
        try (DlrmKernels k = new DlrmKernels(); DeviceModel model = new DeviceModel(config, k, capacity, batch);
             GpuEmbeddingCache cache = new GpuEmbeddingCache(k, model, ROWS, capacity, 0, true, transfer);
             CudaStream compute = new CudaStream("test compute")) {
            int[] ids = new int[batch * ROWS.length];
            for (int i = 0; i < ids.length; i++) ids[i] = (i / ROWS.length) % (int) ROWS[i % ROWS.length]; // 64 + 64 + 64 rows
            GpuEmbeddingCache.Plan plan = cache.plan(ids, batch, 1, 1);
            cache.use(plan, model.deviceIds(), compute);
            compute.synchronize();
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> cache.finish(plan));
            assertTrue(e.getMessage().contains("GPU embedding cache too small") && e.getMessage().contains("trainer.cuda.cache-fraction"),
                    e.getMessage());
        }
    }
}
