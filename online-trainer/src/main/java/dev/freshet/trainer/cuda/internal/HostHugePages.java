package dev.freshet.trainer.cuda.internal;

import dev.freshet.trainer.host.HostMemory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Whether Java's large allocations get transparent huge pages (2 MiB) on this machine: Linux's THP mode is
 * {@code always}, or {@code madvise} with glibc told to advise them for its mmap'd chunks
 * ({@code GLIBC_TUNABLES=glibc.malloc.hugetlb=1}, glibc 2.35 and later; the freshet launcher sets it). The GPU
 * cache's host tables are placed so when it holds (PinnedHostBuffer#forRowTable): on the H200 machine a host
 * thread's copies of random 64-byte rows took 0.70 instead of 0.95 ms per plan (bench/device/NOTES.md).
 */
public final class HostHugePages {
    static final Path THP_MODE = Path.of("/sys/kernel/mm/transparent_hugepage/enabled");
    private static final boolean AVAILABLE = available(readMode(THP_MODE), System.getenv());

    private HostHugePages() {
    }

    public static boolean available() {
        return AVAILABLE;
    }

    /** The decision for a THP mode file's content (null: no such file) and an environment. */
    static boolean available(String thpMode, Map<String, String> env) {
        if (thpMode == null) return false;
        if (thpMode.contains("[always]")) return true;
        if (!thpMode.contains("[madvise]")) return false;
        String tunables = env.getOrDefault("GLIBC_TUNABLES", "");
        for (String part : tunables.split("[:]")) {
            if (part.trim().equals("glibc.malloc.hugetlb=1")) return true;
        }
        return false;
    }

    /**
     * Bytes of Java's direct-memory limit that would be left, beyond a reserve of a quarter of it for the rest of
     * the process, after allocating {@code bytes} more (negative: too little).
     */
    static long directMemoryLeftAfter(long bytes) {
        long limit = HostMemory.maxDirectMemory();
        return limit - limit / 4 - HostMemory.usedDirectMemory() - bytes;
    }

    private static String readMode(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException | SecurityException e) {
            return null;
        }
    }
}
