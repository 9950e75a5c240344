package dev.freshet.bench.pipeline;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * CPU time of this JVM's threads between two snapshots, per pipeline component, in cores (CPU seconds
 * per second of the window). Every component runs in this one process, so its threads' names say
 * whose work it is; what no Java thread accounts for (the JIT compilers, the garbage collector's own
 * threads) is the process total minus the threads' sum. Threads that ended inside the window are
 * missed (their time falls into that remainder).
 */
final class CpuShare {
    /** Thread-name fragment to component, first match wins; order matters (the broker's names contain "kafka"). */
    private static final List<Map.Entry<String, String>> RULES = List.of(
            Map.entry("freshet-cpu-trainer", "trainer"),
            Map.entry("freshet-trainer", "trainer"),
            Map.entry("freshet-publish", "publisher"),
            Map.entry("freshet-model-subscriber", "serving"),
            Map.entry("freshet-feature-tap", "measurement"),
            Map.entry("main", "producer"),
            Map.entry("kafka-producer-network-thread | freshet-ingest", "producer"),
            Map.entry("kafka-producer-network-thread | producer-freshet-features", "feature job"),
            Map.entry("kafka-producer-network-thread | producer-freshet-publisher", "publisher"),
            Map.entry("kafka-producer-network-thread", "kafka clients"),
            Map.entry("kafka-coordinator-heartbeat-thread", "kafka clients"),
            Map.entry("data-plane-kafka", "broker"),
            Map.entry("kafka-", "broker"),
            Map.entry("raft", "broker"),
            Map.entry("ExpirationReaper", "broker"),
            Map.entry("LogDirFailureHandler", "broker"),
            Map.entry("broker-", "broker"),
            Map.entry("controller-", "broker"),
            Map.entry("quorum-controller", "broker"),
            Map.entry("group-coordinator", "broker"),
            Map.entry("transaction-", "broker"),
            Map.entry("share-", "broker"),
            Map.entry("(1/", "feature job"),
            Map.entry("(2/", "feature job"),
            Map.entry("AsyncOperations", "feature job"),
            Map.entry("Source Data Fetcher", "feature job"),
            Map.entry("flink", "feature job"),
            Map.entry("Flink", "feature job"),
            Map.entry("jobmanager", "feature job"),
            Map.entry("Checkpoint", "feature job"),
            Map.entry("pekko", "feature job"));

    record Snapshot(long nanoTime, long processCpuNanos, long minorFaults, Map<Long, String> names, Map<Long, Long> cpuNanos) {
    }

    private CpuShare() {
    }

    static Snapshot snapshot() {
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        Map<Long, String> names = new HashMap<>();
        Map<Long, Long> cpu = new HashMap<>();
        for (ThreadInfo info : threads.getThreadInfo(threads.getAllThreadIds())) {
            if (info == null) continue;
            long t = threads.getThreadCpuTime(info.getThreadId());
            if (t < 0) continue;
            names.put(info.getThreadId(), info.getThreadName());
            cpu.put(info.getThreadId(), t);
        }
        long process = ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os
                ? os.getProcessCpuTime() : -1;
        return new Snapshot(System.nanoTime(), process, minorFaults(), names, cpu);
    }

    /**
     * The process's minor page faults so far (Linux: /proc/self/stat), -1 where unknown. Memory the JVM commits
     * while running (a growing heap) costs a fault per 4 KiB page on first touch, charged to whichever thread
     * touches it; in this VM a growing heap during a measured window showed as several threads, the serving
     * replica's among them, taking 3-5 times their usual CPU per unit of work.
     */
    static long minorFaults() {
        try {
            String stat = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/self/stat"));
            // Fields after the command name in parentheses: state ppid pgrp session tty_nr tpgid flags minflt ...
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(f[7]);
        } catch (java.io.IOException | RuntimeException e) {
            return -1;
        }
    }

    /** Minor page faults per second between the snapshots, or -1 where unknown. */
    static double minorFaultsPerSecond(Snapshot from, Snapshot to) {
        if (from.minorFaults() < 0 || to.minorFaults() < 0) return -1;
        return (to.minorFaults() - from.minorFaults()) / ((to.nanoTime() - from.nanoTime()) / 1e9);
    }

    static String component(String threadName) {
        for (Map.Entry<String, String> r : RULES) {
            if (threadName.contains(r.getKey())) return r.getValue();
        }
        return "other";
    }

    /** Cores per component between {@code from} and {@code to}, largest first, plus "jvm (jit, gc)" and "total". */
    static Map<String, Double> between(Snapshot from, Snapshot to) {
        double seconds = (to.nanoTime() - from.nanoTime()) / 1e9;
        Map<String, Long> nanos = new TreeMap<>();
        long sum = 0;
        for (Map.Entry<Long, Long> e : to.cpuNanos().entrySet()) {
            long d = e.getValue() - from.cpuNanos().getOrDefault(e.getKey(), 0L);
            nanos.merge(component(to.names().get(e.getKey())), d, Long::sum);
            sum += d;
        }
        Map<String, Double> out = new LinkedHashMap<>();
        nanos.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed())
                .forEach(e -> out.put(e.getKey(), e.getValue() / 1e9 / seconds));
        if (from.processCpuNanos() >= 0 && to.processCpuNanos() >= 0) {
            long process = to.processCpuNanos() - from.processCpuNanos();
            out.put("jvm (jit, gc)", Math.max(0, process - sum) / 1e9 / seconds);
            out.put("total", process / 1e9 / seconds);
        }
        return out;
    }

    /** Names of threads in "other" with their cores, for refining the rules. */
    static Map<String, Double> unattributed(Snapshot from, Snapshot to) {
        double seconds = (to.nanoTime() - from.nanoTime()) / 1e9;
        Map<String, Double> out = new TreeMap<>();
        to.cpuNanos().forEach((id, t) -> {
            String name = to.names().get(id);
            double cores = (t - from.cpuNanos().getOrDefault(id, 0L)) / 1e9 / seconds;
            if (component(name).equals("other") && cores > 0.005) out.merge(name, cores, Double::sum);
        });
        return out;
    }
}
