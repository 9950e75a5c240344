package dev.freshet.trainer.cuda.internal;

import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.OptimizerKind;
import dev.freshet.trainer.OptimizerSpec;
import dev.freshet.trainer.Precision;
import dev.freshet.trainer.TableSpec;
import dev.freshet.trainer.cuda.CudaOptions.CacheTransfer;
import jcuda.Pointer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.List;
import java.util.SplittableRandom;

import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The GPU cache's row transfers in each mode against a host-side truth: every row a plan serves holds the
 * latest values written to it (weights and row-wise accumulators), through evictions and re-reads by
 * consecutive plans, while the batch before is being "trained" (its slots rewritten) as the next plan is
 * queued; rows written back reach the host tables. Fresh random data on every run (the seed is printed).
 */
@Tag("gpu")
class CacheTransferGpuTest {
    private static final long[] ROWS = {3000, 200, 9000};
    private static final int DIM = 20;
    @RegisterExtension
    static final GpuContextExtension GPU = new GpuContextExtension();

    private static ModelConfig config(int batch) {
        return new ModelConfig(List.of(new TableSpec("A", ROWS[0], DIM), new TableSpec("B", ROWS[1], DIM),
                new TableSpec("C", ROWS[2], DIM)), 2, DIM, List.of(DIM), List.of(8, 1),
                OptimizerSpec.of(OptimizerKind.ROWWISE_ADAGRAD, 0.05f), OptimizerSpec.of(OptimizerKind.SGD, 0.01f), batch, 1,
                Precision.FP32);
    }

    /** Rows from a window of 150 per table that moves by 40 every plan, so that rows leave and come back. */
    private static int[] batch(SplittableRandom r, int examples, int plan) {
        int[] ids = new int[examples * ROWS.length];
        for (int i = 0; i < ids.length; i++) {
            long rows = ROWS[i % ROWS.length];
            ids[i] = (int) ((plan * 40L + r.nextInt(150)) % rows);
        }
        return ids;
    }

    @ParameterizedTest
    @EnumSource(value = CacheTransfer.class, names = {"BUS", "COPY"})
    void everyServedRowCarriesItsLatestValuesThroughEvictionsAndReReads(CacheTransfer transfer) {
        long seed = System.nanoTime();
        System.out.println("CacheTransferGpuTest " + transfer + " seed " + seed);
        SplittableRandom r = new SplittableRandom(seed);
        int batch = 40, capacity = 300; // lookups per plan: 120, about 110 distinct rows
        ModelConfig config = config(batch);
        int total = (int) (ROWS[0] + ROWS[1] + ROWS[2]);
        float[][] truth = new float[total][DIM];
        float[] truthAccum = new float[total];
        try (DlrmKernels k = new DlrmKernels(); DeviceModel model = new DeviceModel(config, k, capacity, batch);
             GpuEmbeddingCache cache = new GpuEmbeddingCache(k, model, ROWS, capacity, 5, true, transfer);
             CudaStream compute = new CudaStream("test compute")) {
            assertEquals(transfer, cache.transfer());
            for (int row = 0; row < total; row++) {
                for (int d = 0; d < DIM; d++) truth[row][d] = (float) r.nextDouble();
                truthAccum[row] = (float) r.nextDouble();
                cache.hostTable().row(row).put(truth[row]);
                cache.hostAccum().row(row).put(0, truthAccum[row]);
            }
            int[] ids = batch(r, batch, 0);
            GpuEmbeddingCache.Plan inFlight = cache.plan(ids, batch, 1, 1);
            int[] slots = cache.slotsOf(inFlight);
            int[] cachedBefore = cache.rowSlots(), cachedNow = cachedBefore;
            int reReads = 0;
            for (long ticket = 2; ticket <= 80; ticket++) {
                int[] nextIds = batch(r, batch, (int) ticket);
                // the lookahead is queued while the batch in flight "trains": its slots get new values
                GpuEmbeddingCache.Plan next = cache.plan(nextIds, batch, ticket, ticket - 1);
                train(cache, model, ids, slots, truth, truthAccum, r);
                int[] nextSlots = cache.slotsOf(next);
                cache.release(inFlight);
                checkServed(cache, model, nextIds, nextSlots, truth, truthAccum, capacity, "plan " + ticket);
                int[] after = cache.rowSlots();
                // rows the previous plan evicted (cached before it, not after it) that this plan loads again
                for (int i = 0; i < nextIds.length; i++) {
                    int row = (int) cache.globalRow(i % ROWS.length, nextIds[i]);
                    if (cachedBefore[row] >= 0 && cachedNow[row] < 0) reReads++;
                }
                cachedBefore = cachedNow;
                cachedNow = after;
                inFlight = next;
                ids = nextIds;
                slots = nextSlots;
            }
            System.out.printf("CacheTransferGpuTest %s: %d lookups of rows evicted by the plan before, hit rate %.3f%n", transfer,
                    reReads, cache.hitRate());
            assertTrue(reReads > 0, "no plan loaded a row that the plan before it evicted: the test did not test that case");
            // the rows not cached must have come back to the host tables with their latest values
            int[] rowSlots = cache.rowSlots();
            float[] got = new float[DIM];
            for (int row = 0; row < total; row++) {
                if (rowSlots[row] >= 0) continue;
                cache.hostTable().row(row).get(got);
                for (int d = 0; d < DIM; d++) assertEquals(truth[row][d], got[d], "host row " + row + " element " + d);
                assertEquals(truthAccum[row], cache.hostAccum().row(row).get(0), "host row " + row + " accumulator");
            }
        }
    }

    /** Gives every distinct row of the batch new values in its slot, on the GPU, and in the truth. */
    private static void train(GpuEmbeddingCache cache, DeviceModel model, int[] ids, int[] slots, float[][] truth,
                              float[] truthAccum, SplittableRandom r) {
        java.util.Set<Integer> done = new java.util.HashSet<>();
        for (int i = 0; i < ids.length; i++) {
            int row = (int) cache.globalRow(i % ROWS.length, ids[i]);
            if (!done.add(row)) continue;
            for (int d = 0; d < DIM; d++) truth[row][d] = (float) r.nextDouble();
            truthAccum[row] += 1;
            cuMemcpyHtoD(model.deviceTable().at(4L * DIM * slots[i]), Pointer.to(truth[row]), 4L * DIM);
            cuMemcpyHtoD(model.deviceAccum().at(4L * slots[i]), Pointer.to(new float[]{truthAccum[row]}), 4);
        }
    }

    private static void checkServed(GpuEmbeddingCache cache, DeviceModel model, int[] ids, int[] slots, float[][] truth,
                                    float[] truthAccum, int capacity, String what) {
        float[] table = new float[capacity * DIM], accum = new float[capacity];
        cuMemcpyDtoH(Pointer.to(table), model.deviceTable().ptr(), 4L * table.length);
        cuMemcpyDtoH(Pointer.to(accum), model.deviceAccum().ptr(), 4L * accum.length);
        for (int i = 0; i < ids.length; i++) {
            int row = (int) cache.globalRow(i % ROWS.length, ids[i]);
            for (int d = 0; d < DIM; d++) {
                assertEquals(truth[row][d], table[slots[i] * DIM + d], what + ": row " + row + " in slot " + slots[i] + " element " + d);
            }
            assertEquals(truthAccum[row], accum[slots[i]], what + ": row " + row + " in slot " + slots[i] + " accumulator");
        }
    }
}
