package dev.freshet.trainer.cuda.internal;

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
        long limit = directMemoryLimit();
        long used = 0;
        for (java.lang.management.BufferPoolMXBean pool : java.lang.management.ManagementFactory.getPlatformMXBeans(
                java.lang.management.BufferPoolMXBean.class)) {
            if (pool.getName().equals("direct")) used = pool.getMemoryUsed();
        }
        return limit - limit / 4 - used - bytes;
    }

    /** -XX:MaxDirectMemorySize where given, else the JVM's default, the heap's limit. */
    private static long directMemoryLimit() {
        for (String arg : java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (arg.startsWith("-XX:MaxDirectMemorySize=")) {
                try {
                    return parseSize(arg.substring(arg.indexOf('=') + 1));
                } catch (NumberFormatException e) {
                    break;
                }
            }
        }
        return Runtime.getRuntime().maxMemory();
    }

    /** A JVM size argument: digits with an optional k, m, g or t suffix (either case). */
    static long parseSize(String s) {
        char unit = Character.toLowerCase(s.charAt(s.length() - 1));
        int shift = switch (unit) {
            case 'k' -> 10;
            case 'm' -> 20;
            case 'g' -> 30;
            case 't' -> 40;
            default -> 0;
        };
        return Long.parseLong(shift == 0 ? s : s.substring(0, s.length() - 1)) << shift;
    }

    private static String readMode(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException | SecurityException e) {
            return null;
        }
    }
}
