package dev.freshet.trainer.host;

import dev.freshet.config.ConfigException;
import dev.freshet.trainer.ModelConfig;

import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.util.Locale;

/**
 * The start-up size check of a model's host memory: embedding tables live in direct buffers, which
 * the JVM caps at {@code -XX:MaxDirectMemorySize} (default: the maximum heap size), and which must
 * also fit the machine's physical memory. A model that does not fit fails before anything is
 * allocated, saying what it needs, what there is, and what to change.
 */
public final class HostMemory {
    private HostMemory() {
    }

    /** Off-heap bytes of the model: every table's weights and row-wise accumulators. */
    public static long requiredBytes(ModelConfig config) {
        return config.embeddingHostBytes();
    }

    /** Throws a {@link ConfigException} that says how to fix it if {@code config}'s tables do not fit. */
    public static void check(ModelConfig config) {
        check(config, requiredBytes(config), maxDirectMemory(), usedDirectMemory(), physicalMemory());
    }

    static void check(ModelConfig config, long required, long maxDirect, long usedDirect, long physical) {
        String what = "the model's " + config.numTables() + " embedding tables (" + config.totalRows() + " rows x ("
                + config.embeddingDim() + " weights + 1 accumulator) fp32) need " + bytes(required) + " off the Java heap";
        if (physical > 0 && required > physical) {
            throw new ConfigException(what + ", more than this machine's physical memory of " + bytes(physical)
                    + ". Fix: shrink the tables (features.table-rows, or fewer rows per column in features.columns), lower "
                    + "model.embedding-dim, or use a machine with more memory.");
        }
        long available = maxDirect - usedDirect;
        if (required > available) {
            long suggestGiB = (usedDirect + required + (1L << 30) - 1) / (1L << 30) + 1;
            throw new ConfigException(what + ", but only " + bytes(available) + " of direct memory is available (-XX:MaxDirectMemorySize "
                    + bytes(maxDirect) + ", " + bytes(usedDirect) + " in use)"
                    + ". Fix: start the JVM with -XX:MaxDirectMemorySize=" + suggestGiB + "g"
                    + (physical > 0 ? " (this machine has " + bytes(physical) + " of physical memory)" : "")
                    + ", or shrink the tables (features.table-rows) or model.embedding-dim.");
        }
    }

    /** {@code -XX:MaxDirectMemorySize} if given, else the JVM's default, the maximum heap size. */
    public static long maxDirectMemory() {
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (arg.startsWith("-XX:MaxDirectMemorySize=")) {
                long parsed = parseSize(arg.substring("-XX:MaxDirectMemorySize=".length()));
                if (parsed > 0) return parsed;
            }
        }
        return Runtime.getRuntime().maxMemory();
    }

    /** Bytes of direct buffers allocated now in this JVM. */
    public static long usedDirectMemory() {
        for (BufferPoolMXBean pool : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (pool.getName().equals("direct")) return pool.getMemoryUsed();
        }
        return 0;
    }

    /** Physical memory of the machine (or container), or 0 where the JVM cannot tell. */
    public static long physicalMemory() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getTotalMemorySize();
        }
        return 0;
    }

    static long parseSize(String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        if (t.isEmpty()) return -1;
        long unit = switch (t.charAt(t.length() - 1)) {
            case 'k' -> 1L << 10;
            case 'm' -> 1L << 20;
            case 'g' -> 1L << 30;
            case 't' -> 1L << 40;
            default -> 1;
        };
        try {
            return Long.parseLong(unit == 1 ? t : t.substring(0, t.length() - 1)) * unit;
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    static String bytes(long b) {
        return String.format(Locale.ROOT, "%,d bytes (%.1f GiB)", b, b / (double) (1L << 30));
    }
}
