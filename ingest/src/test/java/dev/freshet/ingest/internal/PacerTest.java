package dev.freshet.ingest.internal;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Pacing and progress with injected time: nothing sleeps. */
class PacerTest {

    @Test
    void spacesEventsAtTheRate() throws InterruptedException {
        AtomicLong now = new AtomicLong(5_000_000_000L);
        Pacer pacer = new Pacer(1000, now::get, now::addAndGet);
        for (int i = 0; i < 5000; i++) {
            pacer.acquire();
        }
        // 5000 events at 1000/s: the last may go at 4.999 s after the first.
        assertEquals(5_000_000_000L + 4_999_000_000L, now.get(), 1_000);
    }

    @Test
    void doesNotBurstMoreThanASecondAfterAStall() throws InterruptedException {
        AtomicLong now = new AtomicLong();
        AtomicLong slept = new AtomicLong();
        Pacer pacer = new Pacer(100, now::get, n -> {
            slept.addAndGet(n);
            now.addAndGet(n);
        });
        pacer.acquire();
        now.addAndGet(10_000_000_000L); // a 10 s stall
        slept.set(0);
        for (int i = 0; i < 200; i++) {
            pacer.acquire();
        }
        // Without the cap, 10 s of credit would let all 200 go at once; with it, they take about 2 s.
        assertEquals(1_990_000_000L, slept.get(), 20_000_000L);
    }

    @Test
    void unlimitedNeverWaits() throws InterruptedException {
        Pacer pacer = new Pacer(0, () -> 0, n -> {
            throw new AssertionError("slept " + n);
        });
        for (int i = 0; i < 10; i++) pacer.acquire();
        assertTrue(pacer.unlimited());
    }

    @Test
    void progressPrintsAtMostOncePerSecond() {
        AtomicLong now = new AtomicLong();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        ProgressLine progress = new ProgressLine("replay", out, now::get, false);
        for (int i = 1; i <= 3000; i++) {
            now.addAndGet(1_000_000L); // 1 ms per event: 1000 events/s
            progress.update(i, i * 100L, i / 1000);
        }
        progress.finish(3000, 300_000, 3);
        String[] lines = bytes.toString(StandardCharsets.UTF_8).split("\n");
        assertEquals(4, lines.length, String.join("\n", lines));
        assertEquals("replay: 1,000 events  1,000 events/s  97.7 KiB  1 rejects", lines[0]);
        assertEquals("replay: 3,000 events  1,000 events/s  293.0 KiB  3 rejects", lines[3]);
    }
}
