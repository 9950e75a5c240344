package dev.freshet.trainer.cuda;

import dev.freshet.config.ConfigException;
import dev.freshet.config.ConfigSource;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CudaOptionsTest {
    @Test
    void defaultsKeepEveryRowOnTheGpu() {
        CudaOptions o = CudaOptions.from(ConfigSource.empty());
        assertFalse(o.cached());
        assertTrue(o.graphs());
        assertTrue(o.overlapSwaps());
    }

    @Test
    void cacheSizeFromFractionOrRows() {
        CudaOptions f = CudaOptions.from(ConfigSource.of(Map.of("trainer.cuda.cache-fraction", "0.02")));
        assertTrue(f.cached());
        assertEquals(675_252, f.cacheSlots(33_762_577));
        CudaOptions r = CudaOptions.from(ConfigSource.of(Map.of("trainer.cuda.cache-fraction", "0.02", "trainer.cuda.cache-rows", "1000")));
        assertEquals(1000, r.cacheSlots(33_762_577), "rows override the fraction");
        assertEquals(500, r.cacheSlots(500), "never more slots than rows");
    }

    @Test
    void badFractionNamesTheKeyAndTheRange() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> CudaOptions.from(ConfigSource.of(Map.of("trainer.cuda.cache-fraction", "1.5"))));
        assertTrue(e.getMessage().contains("trainer.cuda.cache-fraction") && e.getMessage().contains("0.0..1.0"), e.getMessage());
    }

    @Test
    void cacheTransferAutoPicksByBatchLookupsAndAModeCanBeForced() {
        CudaOptions o = CudaOptions.from(ConfigSource.empty());
        assertEquals(CudaOptions.CacheTransfer.AUTO, o.cacheTransfer());
        assertEquals(CudaOptions.CacheTransfer.COPY, o.cacheTransfer().forBatchLookups(65536L * 26));
        assertEquals(CudaOptions.CacheTransfer.COPY, o.cacheTransfer().forBatchLookups(CudaOptions.CacheTransfer.AUTO_COPY_MIN_LOOKUPS));
        assertEquals(CudaOptions.CacheTransfer.COPY, o.cacheTransfer().forBatchLookups(16384L * 26));
        assertEquals(CudaOptions.CacheTransfer.BUS, o.cacheTransfer().forBatchLookups(2048L * 26));
        CudaOptions bus = CudaOptions.from(ConfigSource.of(Map.of("trainer.cuda.cache-transfer", "bus")));
        assertEquals(CudaOptions.CacheTransfer.BUS, bus.cacheTransfer().forBatchLookups(65536L * 26), "a forced mode holds for any batch");
        ConfigException e = assertThrows(ConfigException.class,
                () -> CudaOptions.from(ConfigSource.of(Map.of("trainer.cuda.cache-transfer", "dma"))));
        assertTrue(e.getMessage().contains("trainer.cuda.cache-transfer") && e.getMessage().contains("auto|bus|copy"), e.getMessage());
    }
}
