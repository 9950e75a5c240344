package dev.freshet.trainer.retrain.internal;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ProgressBarTest {

    @Test
    void showsExamplesPassRateAndEta() {
        AtomicLong now = new AtomicLong(0);
        ProgressBar bar = new ProgressBar(new PrintStream(new ByteArrayOutputStream()), true, now::get, 2_000_000, 2);
        now.set(10_000_000_000L); // 10 s for 500k examples: 50k/s, 1.5M left: 30 s
        String line = bar.render(500_000, 1, now.get());
        assertEquals("retrain [#####---------------]  25% pass 1/2  500,000/2,000,000 ex  50.0k ex/s  ETA 0:30", line);
    }

    @Test
    void redrawsAtMostEveryInterval() {
        AtomicLong now = new AtomicLong(0);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ProgressBar bar = new ProgressBar(new PrintStream(bytes, true, StandardCharsets.UTF_8), false, now::get, 100, 1);
        bar.update(1, 1);
        now.addAndGet(1_000_000_000L);
        bar.update(2, 1); // 1 s later: a log gets one line per 5 s
        now.addAndGet(5_000_000_000L);
        bar.update(50, 1);
        bar.finish(100, 1, "trained");
        String[] lines = bytes.toString(StandardCharsets.UTF_8).split("\n");
        assertEquals(3, lines.length, String.join("|", lines));
        assertTrue(lines[1].contains("50/100") && lines[2].endsWith("trained") && lines[2].contains("100%"), lines[2]);
    }

    @Test
    void clockFormat() {
        assertEquals("0:05", ProgressBar.clock(5));
        assertEquals("2:05", ProgressBar.clock(125));
        assertEquals("1:00:01", ProgressBar.clock(3601));
    }
}
