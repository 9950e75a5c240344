package dev.freshet.trainer.cpu;

import org.junit.jupiter.api.Test;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The CPU trainer's lowered thread priority: the pool's workers and its callers run at the niceness asked for. */
class ThreadNicenessTest {
    /** The calling thread's niceness as the kernel reports it, or null where /proc/thread-self/stat is not readable. */
    private static Integer niceness() {
        try {
            String stat = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/thread-self/stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Integer.parseInt(f[16]); // field 19 of stat; field 3 is f[0]
        } catch (java.io.IOException | RuntimeException e) {
            return null;
        }
    }

    @Test
    void aPoolsWorkersAndItsCallerRunAtItsNiceness() throws Exception {
        Integer base = niceness();
        assumeTrue(base != null && base < 19, "needs Linux's /proc/thread-self and room above niceness " + base);
        int nice = Math.min(19, base + 3);
        Set<Integer> seen = ConcurrentHashMap.newKeySet();
        AtomicReference<Integer> caller = new AtomicReference<>();
        // a thread of its own: the caller keeps the niceness for good
        Thread t = new Thread(() -> {
            WorkerPool pool = new WorkerPool(3, "niceness-test", nice);
            try {
                for (int round = 0; round < 50; round++) {
                    pool.run(64, (from, to) -> {
                        Integer n = niceness();
                        seen.add(n == null ? -100 : n);
                        long x = 0;
                        for (int i = 0; i < 20_000; i++) x += i * (long) from; // long enough that the workers take chunks
                        if (x == 42) seen.add(-42);
                    });
                }
                caller.set(niceness());
            } finally {
                pool.close();
            }
        }, "niceness-test-caller");
        t.start();
        t.join(60_000);
        assertFalse(t.isAlive());
        assertEquals(nice, caller.get(), "the caller");
        assertEquals(Set.of(nice), seen, "every chunk, whichever thread ran it");
        assertEquals(base, niceness(), "this thread is left alone");
    }

    @Test
    void zeroLeavesTheThreadAloneAndOutOfRangeIsRefused() {
        Integer before = niceness();
        assertFalse(ThreadNiceness.apply(0));
        assertEquals(before, niceness());
        assertThrows(IllegalArgumentException.class, () -> ThreadNiceness.apply(20));
        assertThrows(IllegalArgumentException.class, () -> ThreadNiceness.apply(-1));
    }
}
