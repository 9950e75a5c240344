package dev.freshet.trainer.cuda.internal;

import jcuda.Pointer;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The cache's swap and flush kernels against host tables split into many small chunks (rows on both
 * sides of chunk boundaries): rows loaded into slots, changed on the GPU, written back on eviction or
 * flush, must arrive exactly, weights and accumulators. Row widths: 16 and 20 (float4 units, 4 and 8 lanes a
 * row), 13 (single floats), 128 (a warp a row, a float4 a lane) and 200 (a warp a row, two float4s for some lanes).
 */
@Tag("gpu")
class CacheSwapGpuTest {
    @ParameterizedTest(name = "dim {0}")
    @ValueSource(ints = {16, 20, 13, 128, 200})
    void rowsCrossChunkBoundariesBothWays(int dim) {
        CudaContext.Probe probe = CudaContext.probe(0);
        Assumptions.assumeTrue(probe.available(), "skipped: no CUDA GPU here (" + probe.reason() + ")");
        int rows = 1000, slots = 64;
        try (CudaContext ctx = new CudaContext(0); DlrmKernels k = new DlrmKernels(); CudaStream s = new CudaStream("test");
             HostRowStore table = new HostRowStore("table", rows, dim, 37 * dim * 4L); // 37 rows per chunk
             HostRowStore accum = new HostRowStore("accum", rows, 1, 50 * 4L);
             DeviceBuffer cache = DeviceBuffer.floats("cache", (long) slots * dim);
             DeviceBuffer cacheAccum = DeviceBuffer.floats("cache accum", slots);
             DeviceBuffer plan = DeviceBuffer.ints("plan", 3L * slots)) {
            // where huge pages are on offer (run-gpu.sh sets the glibc tunable), the tables are Java memory registered with the driver
            assertEquals(HostHugePages.available(), table.inHugePages(), "table memory in 2 MiB pages");
            SplittableRandom r = new SplittableRandom(5 + dim);
            float[][] host = new float[rows][dim];
            float[] hostAcc = new float[rows];
            for (int i = 0; i < rows; i++) {
                for (int d = 0; d < dim; d++) host[i][d] = (float) r.nextDouble();
                hostAcc[i] = (float) r.nextDouble();
                table.row(i).put(host[i]);
                accum.row(i).put(0, hostAcc[i]);
            }
            // load rows 36, 37 (a chunk boundary), 999 (the last) and 10 more into slots 0..12
            int[] load = {36, 37, 999, 0, 73, 74, 111, 500, 501, 740, 741, 998, 5};
            int n = load.length;
            int[] slotIds = new int[n], evict = new int[n];
            for (int i = 0; i < n; i++) {
                slotIds[i] = i;
                evict[i] = -1;
            }
            swap(k, s, plan, cache, cacheAccum, table, accum, dim, slotIds, evict, load);
            float[] onGpu = new float[slots * dim];
            float[] accGpu = new float[slots];
            s.synchronize();
            jcuda.driver.JCudaDriver.cuMemcpyDtoH(Pointer.to(onGpu), cache.ptr(), (long) slots * dim * 4);
            jcuda.driver.JCudaDriver.cuMemcpyDtoH(Pointer.to(accGpu), cacheAccum.ptr(), (long) slots * 4);
            for (int i = 0; i < n; i++) {
                for (int d = 0; d < dim; d++) assertEquals(host[load[i]][d], onGpu[i * dim + d], "row " + load[i] + " dim " + d + " loaded");
                assertEquals(hostAcc[load[i]], accGpu[i], "accumulator of row " + load[i]);
            }
            // change them on the GPU, then evict slots 0..12 while loading other rows into them
            for (int i = 0; i < onGpu.length; i++) onGpu[i] += 1f;
            for (int i = 0; i < accGpu.length; i++) accGpu[i] += 2f;
            jcuda.driver.JCudaDriver.cuMemcpyHtoD(cache.ptr(), Pointer.to(onGpu), (long) slots * dim * 4);
            jcuda.driver.JCudaDriver.cuMemcpyHtoD(cacheAccum.ptr(), Pointer.to(accGpu), (long) slots * 4);
            int[] next = new int[n];
            for (int i = 0; i < n; i++) next[i] = 200 + 7 * i;
            swap(k, s, plan, cache, cacheAccum, table, accum, dim, slotIds, load, next);
            s.synchronize();
            for (int i = 0; i < n; i++) {
                float[] back = new float[dim];
                table.row(load[i]).get(back);
                for (int d = 0; d < dim; d++) assertEquals(host[load[i]][d] + 1f, back[d], "row " + load[i] + " dim " + d + " written back");
                assertEquals(hostAcc[load[i]] + 2f, accum.row(load[i]).get(0), "accumulator of row " + load[i] + " written back");
            }
            jcuda.driver.JCudaDriver.cuMemcpyDtoH(Pointer.to(onGpu), cache.ptr(), (long) slots * dim * 4);
            for (int i = 0; i < n; i++) {
                for (int d = 0; d < dim; d++) assertEquals(host[next[i]][d], onGpu[i * dim + d], "row " + next[i] + " loaded after the eviction");
            }
            // flush: slot 3 holds row next[3]; change it and flush without evicting
            onGpu[3 * dim] = 42f;
            jcuda.driver.JCudaDriver.cuMemcpyHtoD(cache.ptr(), Pointer.to(onGpu), (long) slots * dim * 4);
            int[] flush = {3, next[3]};
            jcuda.driver.JCudaDriver.cuMemcpyHtoD(plan.ptr(), Pointer.to(flush), 8);
            k.cacheFlush(1, plan.at(0), plan.at(4), cache.ptr(), cacheAccum.ptr(), table, accum, dim, s);
            s.synchronize();
            assertEquals(42f, table.row(next[3]).get(0), "flushed row");
        }
    }

    private static void swap(DlrmKernels k, CudaStream s, DeviceBuffer plan, DeviceBuffer cache, DeviceBuffer cacheAccum,
                             HostRowStore table, HostRowStore accum, int dim, int[] slots, int[] evict, int[] load) {
        int n = slots.length;
        int[] all = new int[3 * n];
        System.arraycopy(slots, 0, all, 0, n);
        System.arraycopy(evict, 0, all, n, n);
        System.arraycopy(load, 0, all, 2 * n, n);
        jcuda.driver.JCudaDriver.cuMemcpyHtoD(plan.ptr(), Pointer.to(all), 12L * n);
        k.cacheSwap(n, null, plan.at(0), plan.at(4L * n), plan.at(8L * n), cache.ptr(), cacheAccum.ptr(), table, accum, dim, s);
    }
}
