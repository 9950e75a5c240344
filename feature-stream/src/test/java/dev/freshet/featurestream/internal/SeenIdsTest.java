package dev.freshet.featurestream.internal;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The dedup table against a plain map model, through expiries, tombstone reuse and resizes. */
class SeenIdsTest {

    @Test
    void anIdIsADuplicateUntilTheWatermarkPassesItsExpiry() {
        SeenIds s = new SeenIds();
        assertFalse(s.checkAndAdd(42, 1_000, 0));
        assertTrue(s.checkAndAdd(42, 1_500, 999), "still live at watermark 999");
        assertFalse(s.checkAndAdd(42, 3_000, 1_000), "forgotten once the watermark reaches its expiry");
        assertTrue(s.checkAndAdd(42, 4_000, 2_999), "the new occurrence is remembered until 3000");
    }

    @Test
    void agreesWithAMapModelOverAMillionSeededOperations() {
        Random random = new Random(7);
        SeenIds s = new SeenIds();
        Map<Long, Long> model = new HashMap<>();
        long watermark = 0;
        int duplicates = 0;
        for (int i = 0; i < 1_000_000; i++) {
            long id = random.nextInt(50_000) * 0x9E3779B97F4A7C15L; // repeats, spread over the key space
            long time = watermark + random.nextInt(2_000);
            long expiry = time + 5_000;
            Long known = model.get(id);
            boolean expected = known != null && known > watermark;
            if (!expected) model.put(id, expiry);
            assertEquals(expected, s.checkAndAdd(id, expiry, watermark), "operation " + i + ", id " + id);
            if (expected) duplicates++;
            if (i % 1_000 == 0) watermark += 100;
        }
        assertTrue(duplicates > 100_000, "the stream repeats ids: " + duplicates);
        final long wm = watermark;
        assertEquals(model.values().stream().filter(e -> e > wm).count(), s.live(wm));
    }
}
