package dev.freshet.trainer.cuda.internal;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cache planner alone (no GPU): its swaps are replayed on simulated host tables and cache slots,
 * each step "trains" by adding one to every row it looks up (once per distinct row, as the GPU does),
 * and the result must equal training without a cache: no row is ever stale, whatever was evicted.
 */
class CachePlannerTest {
    private static final long[] ROWS = {5000, 300, 20000};

    @Test
    void swapsNeverServeAStaleRowWhileTheHotSetMoves() {
        // {threads, capacity, batch}: one partition; several; several with batches large enough to plan in parallel
        for (int[] setup : new int[][]{{1, 600, 40}, {4, 600, 40}, {4, 4096, 40}, {4, 20000, 3000}}) {
            int threads = setup[0];
            try (CachePlanner planner = new CachePlanner(ROWS, setup[1], threads, 20)) {
                int total = (int) planner.totalRows();
                long[] host = new long[total];
                long[] cache = new long[planner.capacity()];
                long[] reference = new long[total];
                SplittableRandom r = new SplittableRandom(7 + threads);
                int batch = setup[2];
                CachePlanner.Plan pending = null;
                int[] pendingIds = null;
                for (int step = 0; step < 300; step++) {
                    int[] ids = pendingIds != null ? pendingIds : batch(r, batch, step);
                    CachePlanner.Plan plan = pending != null ? pending : planner.plan(ids, batch, step, step);
                    if (pending == null) apply(plan, host, cache);
                    // lookahead: plan the next batch while this one "trains"; its swaps apply after this step's
                    int[] nextIds = batch(r, batch, step + 1);
                    CachePlanner.Plan next = planner.plan(nextIds, batch, step + 1, step);
                    Set<Integer> seen = new HashSet<>();
                    for (int i = 0; i < ids.length; i++) {
                        int t = i % ROWS.length;
                        int g = (int) planner.globalRow(t, ids[i]);
                        int slot = plan.slots()[i];
                        assertTrue(slot >= 0 && slot < planner.capacity(), "slot " + slot);
                        assertEquals(g, planner.rowIn(slot), "lookup " + i + " of step " + step + " got a slot holding another row");
                        if (seen.add(g)) {
                            cache[slot]++;
                            reference[g]++;
                        }
                    }
                    // rows of the step in flight must not have been evicted by the lookahead plan
                    Set<Integer> inFlight = new HashSet<>();
                    for (int slot : plan.slots()) inFlight.add(slot);
                    for (int i = 0; i < next.swaps(); i++) {
                        assertTrue(!inFlight.contains(next.swapSlots()[i]),
                                "lookahead evicted slot " + next.swapSlots()[i] + " used by the step in flight");
                    }
                    apply(next, host, cache);
                    pending = next;
                    pendingIds = nextIds;
                }
                // flush what is cached, then every row must carry every update
                for (int s = 0; s < planner.capacity(); s++) {
                    int g = planner.rowIn(s);
                    if (g >= 0) host[g] = cache[s];
                }
                for (int g = 0; g < total; g++) assertEquals(reference[g], host[g], "row " + g + " (threads " + threads + ")");
                assertTrue(planner.hitRate() > 0.3 && planner.hitRate() < 1, "hit rate " + planner.hitRate());
            }
        }
    }

    @Test
    void frequentRowsStayCached() {
        try (CachePlanner planner = new CachePlanner(new long[]{100_000}, 1000, 1, 0)) {
            SplittableRandom r = new SplittableRandom(3);
            // rows 0..99 in every batch; the rest a stream of one-off rows
            for (int step = 0; step < 200; step++) {
                int[] ids = new int[200];
                for (int i = 0; i < 100; i++) ids[i] = i;
                for (int i = 100; i < 200; i++) ids[i] = 100 + r.nextInt(99_900);
                planner.plan(ids, 200, step, step);
            }
            planner.resetStats();
            int[] hot = new int[100];
            for (int i = 0; i < 100; i++) hot[i] = i;
            CachePlanner.Plan p = planner.plan(hot, 100, 1000, 1000);
            assertEquals(0, p.swaps(), "every hot row is still cached");
        }
    }

    @Test
    void tooSmallCacheSaysHowToFix() {
        try (CachePlanner planner = new CachePlanner(new long[]{10_000}, 50, 1, 0)) {
            int[] ids = new int[80];
            for (int i = 0; i < ids.length; i++) ids[i] = i;
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> planner.plan(ids, 80, 0, 0));
            assertTrue(e.getMessage().contains("trainer.cuda.cache-fraction"), e.getMessage());
        }
    }

    private static int[] batch(SplittableRandom r, int n, int step) {
        int[] ids = new int[n * ROWS.length];
        int shift = (step / 25) * 700; // the hot set moves every 25 steps
        for (int b = 0; b < n; b++) {
            for (int t = 0; t < ROWS.length; t++) {
                double u = r.nextDouble();
                long span = Math.min(ROWS[t], 1500);
                ids[b * ROWS.length + t] = (int) ((shift + (long) (u * u * u * span)) % ROWS[t]);
            }
        }
        return ids;
    }

    /**
     * Replays a plan's swaps as the GPU runs them: all entries at once, so no row may be both written back
     * and loaded by one plan (the load could read the host copy before the write-back lands).
     */
    private static void apply(CachePlanner.Plan plan, long[] host, long[] cache) {
        Set<Integer> evicted = new HashSet<>();
        for (int i = 0; i < plan.swaps(); i++) if (plan.evictRows()[i] >= 0) evicted.add(plan.evictRows()[i]);
        for (int i = 0; i < plan.swaps(); i++) {
            assertTrue(!evicted.contains(plan.loadRows()[i]), "row " + plan.loadRows()[i] + " is evicted and loaded by one plan");
        }
        for (int i = 0; i < plan.swaps(); i++) {
            int s = plan.swapSlots()[i];
            if (plan.evictRows()[i] >= 0) host[plan.evictRows()[i]] = cache[s];
            cache[s] = host[plan.loadRows()[i]];
        }
    }
}
