package dev.freshet.trainer.retrain.internal;

import dev.freshet.features.Examples;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ShuffledBatchesTest {

    /** Feeds examples 0..n-1 (id in eventTimes, dense and sparse) in chunks; returns the ids in output order. */
    private static List<Long> run(int n, int chunk, int batchSize, int buffer, long seed, List<Integer> batchSizes) {
        List<Long> out = new ArrayList<>();
        ShuffledBatches s = new ShuffledBatches(2, 3, batchSize, buffer, new SplittableRandom(seed), b -> {
            batchSizes.add(b.count);
            for (int i = 0; i < b.count; i++) {
                long id = b.eventTimes[i];
                // every field of an example travels together
                assertEquals(id, (long) b.dense[i * 2 + 1]);
                assertEquals(id, b.sparse[i * 3 + 2]);
                assertEquals("e" + id, b.eventIds.get(i));
                assertEquals((byte) (id % 2), b.labels[i]);
                out.add(id);
            }
        });
        Examples src = new Examples(chunk, 2, 3);
        for (int start = 0; start < n; start += chunk) {
            src.clear();
            for (int i = 0; i < chunk && start + i < n; i++) {
                int id = start + i;
                src.labels[i] = (byte) (id % 2);
                src.dense[i * 2] = -1;
                src.dense[i * 2 + 1] = id;
                src.sparse[i * 3 + 2] = id;
                src.eventTimes[i] = id;
                src.eventIds.add("e" + id);
                src.count++;
            }
            s.add(src);
        }
        s.finish();
        assertEquals(n, s.emitted());
        return out;
    }

    @Test
    void everyExampleComesOutExactlyOnceInFullBatches() {
        List<Integer> sizes = new ArrayList<>();
        List<Long> ids = run(1000, 37, 64, 100, 7, sizes);
        assertEquals(1000, ids.size());
        assertEquals(1000, ids.stream().distinct().count());
        for (int i = 0; i < sizes.size() - 1; i++) assertEquals(64, sizes.get(i));
        assertEquals(1000 % 64, sizes.get(sizes.size() - 1));
        List<Long> inOrder = new ArrayList<>();
        for (long i = 0; i < 1000; i++) inOrder.add(i);
        assertNotEquals(inOrder, ids, "a buffer of 100 shuffles");
    }

    @Test
    void sameSeedSameOrderOtherSeedOtherOrder() {
        List<Long> a = run(500, 50, 32, 64, 1, new ArrayList<>());
        List<Long> b = run(500, 50, 32, 64, 1, new ArrayList<>());
        List<Long> c = run(500, 50, 32, 64, 2, new ArrayList<>());
        assertEquals(a, b);
        assertNotEquals(a, c);
    }

    @Test
    void bufferOfOneKeepsTheInputOrder() {
        List<Long> ids = run(300, 17, 50, 1, 3, new ArrayList<>());
        for (int i = 0; i < ids.size(); i++) assertEquals(i, ids.get(i));
    }

    @Test
    void shuffleIsLocalToTheBuffer() {
        // An example can leave at most `buffer` places before it came in: the local shuffle keeps time order coarsely.
        List<Long> ids = run(2000, 100, 64, 50, 5, new ArrayList<>());
        for (int pos = 0; pos < ids.size(); pos++) {
            assertTrue(ids.get(pos) <= pos + 50, "example " + ids.get(pos) + " left at position " + pos);
        }
    }
}
