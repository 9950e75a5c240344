package dev.freshet.trainer.cuda;

import dev.freshet.config.ConfigException;
import dev.freshet.config.ConfigSource;
import dev.freshet.config.Setting;

import java.util.List;

/**
 * Settings of the CUDA backend.
 *
 * @param device        CUDA device ordinal
 * @param cacheFraction fraction of all embedding rows the GPU caches; 0 keeps every row on the GPU
 *                      (no cache), otherwise the tables stay in host memory
 * @param cacheRows     GPU cache size in rows; when above 0 it overrides cacheFraction
 * @param graphs        replay each full-size training step as one CUDA graph
 * @param agingSteps    the cache halves its access counts every this many steps (0: never)
 * @param overlapSwaps  plan the next batch and copy its missing rows on a second stream while the current
 *                      batch trains (false: when the next batch trains)
 * @param cacheTransfer how the cache moves rows between the host tables and the GPU
 */
public record CudaOptions(int device, double cacheFraction, long cacheRows, boolean graphs, int agingSteps,
                          boolean overlapSwaps, CacheTransfer cacheTransfer) {

    /**
     * How the GPU cache writes evicted rows back to the host tables and loads missing rows. {@code BUS}: one
     * kernel reads and writes the pinned host tables directly, a bus request per row (bandwidth-bound for
     * large rows). {@code COPY}: the rows are packed on the GPU, cross the bus as one copy-engine transfer
     * each way, and host threads move them between the tables and the transfer buffers (the bus kernel waits
     * on the bus for every row, which tells when a batch misses many rows). {@code AUTO}: by the batch's lookups.
     *
     * <p>Measured on an H200 (TrainerGpuBench, cache of 2%, bench/device/NOTES.md): at batch 65536 copy reached
     * 0.88-0.97 of the all-on-GPU speed against 0.68-0.91 for bus (kaggle16 and kaggle128); at 16384, once the
     * host threads wrote evicted rows back after queueing the loaded rows' upload instead of before, copy 0.89-0.98
     * against bus 0.75-0.97 (session 5, runs 5-6); at 2048 a plan moves a few thousand rows and bus does better:
     * the copy's fixed costs (two waits on the GPU, the hand-off to host threads) weigh more than the bus requests.
     */
    public enum CacheTransfer {
        AUTO, BUS, COPY;

        /** AUTO copies when a full batch has at least this many lookups (examples x tables), else uses the bus kernel. */
        public static final int AUTO_COPY_MIN_LOOKUPS = 1 << 18;

        /** BUS or COPY for batches of at most {@code maxLookups} lookups. */
        public CacheTransfer forBatchLookups(long maxLookups) {
            if (this != AUTO) return this;
            return maxLookups >= AUTO_COPY_MIN_LOOKUPS ? COPY : BUS;
        }
    }

    public static final Setting<Integer> DEVICE = Setting.ofInt("trainer.cuda.device", 0, 0, 63,
            "CUDA device ordinal the trainer uses.");
    public static final Setting<Double> CACHE_FRACTION = Setting.ofDouble("trainer.cuda.cache-fraction", 0.0, 0.0, 1.0,
            "Fraction of embedding rows cached on the GPU (tables in host memory); 0 keeps all rows on the GPU.");
    public static final Setting<Long> CACHE_ROWS = Setting.ofLong("trainer.cuda.cache-rows", 0, 0, Integer.MAX_VALUE,
            "GPU embedding cache size in rows; above 0 it overrides trainer.cuda.cache-fraction.");
    public static final Setting<Boolean> GRAPHS = Setting.ofBoolean("trainer.cuda.graphs", true,
            "Replay each full-size training step as one CUDA graph (fewer launches).");
    public static final Setting<Integer> AGING_STEPS = Setting.ofInt("trainer.cuda.cache-aging-steps", 200, 0, 1 << 30,
            "The GPU cache halves its row access counts every this many steps, so a moving hot set is followed; 0 never.");
    public static final Setting<Boolean> OVERLAP_SWAPS = Setting.ofBoolean("trainer.cuda.cache-overlap", true,
            "With the GPU cache: copy the next batch's missing rows into the cache, and its inputs to the GPU, on other streams while the current batch trains (off: when it trains).");
    public static final Setting<CacheTransfer> CACHE_TRANSFER = Setting.ofEnum("trainer.cuda.cache-transfer", CacheTransfer.class,
            CacheTransfer.AUTO, "How the GPU cache moves rows to and from the host tables: bus (a kernel reads and writes host memory"
                    + " directly; best for small batches), copy (rows packed on the GPU, one copy-engine transfer each way, host"
                    + " threads place them; best for large batches, uses up to 16 cores while it runs), auto (copy when a batch has at"
                    + " least " + CacheTransfer.AUTO_COPY_MIN_LOOKUPS + " lookups, examples x tables, else bus: the crossover measured"
                    + " on an H200).");
    public static final List<Setting<?>> SETTINGS = List.of(DEVICE, CACHE_FRACTION, CACHE_ROWS, GRAPHS, AGING_STEPS,
            OVERLAP_SWAPS, CACHE_TRANSFER);

    public CudaOptions {
        if (device < 0) throw new ConfigException(DEVICE.key() + " = " + device + " must be >= 0");
        if (!(cacheFraction >= 0 && cacheFraction <= 1)) {
            throw new ConfigException(CACHE_FRACTION.key() + " = " + cacheFraction + " must lie in [0, 1]; 0 keeps all rows on the GPU");
        }
        if (cacheRows < 0) throw new ConfigException(CACHE_ROWS.key() + " = " + cacheRows + " must be >= 0");
        if (agingSteps < 0) throw new ConfigException(AGING_STEPS.key() + " = " + agingSteps + " must be >= 0");
        if (cacheTransfer == null) throw new ConfigException(CACHE_TRANSFER.key() + " must be set: auto, bus or copy");
    }

    public static CudaOptions from(ConfigSource config) {
        return new CudaOptions(config.get(DEVICE), config.get(CACHE_FRACTION), config.get(CACHE_ROWS), config.get(GRAPHS),
                config.get(AGING_STEPS), config.get(OVERLAP_SWAPS), config.get(CACHE_TRANSFER));
    }

    /** All rows on the GPU, graphs on, device 0 (a cache, once sized, picks its transfer by the batch size). */
    public static CudaOptions defaults() {
        return new CudaOptions(0, 0.0, 0, true, 200, true, CacheTransfer.AUTO);
    }

    public CudaOptions withCacheFraction(double fraction) {
        return new CudaOptions(device, fraction, 0, graphs, agingSteps, overlapSwaps, cacheTransfer);
    }

    public CudaOptions withCacheRows(long rows) {
        return new CudaOptions(device, cacheFraction, rows, graphs, agingSteps, overlapSwaps, cacheTransfer);
    }

    public CudaOptions withGraphs(boolean on) {
        return new CudaOptions(device, cacheFraction, cacheRows, on, agingSteps, overlapSwaps, cacheTransfer);
    }

    public CudaOptions withOverlapSwaps(boolean on) {
        return new CudaOptions(device, cacheFraction, cacheRows, graphs, agingSteps, on, cacheTransfer);
    }

    public CudaOptions withCacheTransfer(CacheTransfer transfer) {
        return new CudaOptions(device, cacheFraction, cacheRows, graphs, agingSteps, overlapSwaps, transfer);
    }

    public boolean cached() {
        return cacheRows > 0 || cacheFraction > 0;
    }

    /** Cache slots for a model of {@code totalRows} rows. */
    public int cacheSlots(long totalRows) {
        long rows = cacheRows > 0 ? cacheRows : (long) Math.ceil(cacheFraction * totalRows);
        return (int) Math.max(1, Math.min(rows, totalRows));
    }
}
