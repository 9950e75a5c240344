package dev.freshet.trainer.cuda.internal;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HostHugePagesTest {
    private static final String ALWAYS = "[always] madvise never\n";
    private static final String MADVISE = "always [madvise] never\n";
    private static final String NEVER = "always madvise [never]\n";

    @Test
    void alwaysModeNeedsNothingMore() {
        assertTrue(HostHugePages.available(ALWAYS, Map.of()));
    }

    @Test
    void madviseModeNeedsGlibcToAdvise() {
        assertFalse(HostHugePages.available(MADVISE, Map.of()));
        assertTrue(HostHugePages.available(MADVISE, Map.of("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1")));
        assertTrue(HostHugePages.available(MADVISE, Map.of("GLIBC_TUNABLES", "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1")));
        // 2 asks for reserved hugetlbfs pages, which a machine rarely has: not what the tables rely on
        assertFalse(HostHugePages.available(MADVISE, Map.of("GLIBC_TUNABLES", "glibc.malloc.hugetlb=2")));
        assertFalse(HostHugePages.available(MADVISE, Map.of("GLIBC_TUNABLES", "glibc.malloc.hugetlb=10")));
    }

    @Test
    void directMemoryKeepsAQuarterForTheRestOfTheProcess() {
        long limit = Runtime.getRuntime().maxMemory(); // the surefire JVM sets no -XX:MaxDirectMemorySize
        assertTrue(HostHugePages.directMemoryLeftAfter(1 << 20) >= 0, "1 MiB of a " + (limit >> 20) + " MiB limit");
        assertTrue(HostHugePages.directMemoryLeftAfter(limit - limit / 8) < 0, "seven eighths of the limit leaves less than a quarter");
    }

    @Test
    void neverModeOrNoThpAtAll() {
        assertFalse(HostHugePages.available(NEVER, Map.of("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1")));
        assertFalse(HostHugePages.available(null, Map.of("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1")));
    }
}
