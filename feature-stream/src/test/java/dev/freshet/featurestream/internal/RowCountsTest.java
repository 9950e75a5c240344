package dev.freshet.featurestream.internal;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The per-block pre-aggregation of table lookups, against exact counts and against one sketch update per lookup. */
class RowCountsTest {

    @Test
    void countsEveryDistinctRowInFirstSeenOrderAndClearsForTheNextBlock() {
        Random random = new Random(7);
        RowCounts counts = new RowCounts(1024);
        for (int block = 0; block < 3; block++) {
            Map<Integer, Integer> exact = new LinkedHashMap<>();
            for (int i = 0; i < 1024; i++) {
                // Small ids repeat (a Zipf-like head); negative and extreme values are rows like any other.
                int row = switch (random.nextInt(4)) {
                    case 0 -> random.nextInt(5);
                    case 1 -> random.nextInt(300);
                    case 2 -> random.nextInt();
                    default -> random.nextBoolean() ? Integer.MIN_VALUE : Integer.MAX_VALUE;
                };
                counts.add(row);
                exact.merge(row, 1, Integer::sum);
            }
            assertEquals(exact.size(), counts.size(), "block " + block);
            int i = 0;
            for (Map.Entry<Integer, Integer> e : exact.entrySet()) {
                assertEquals(e.getKey(), counts.row(i), "block " + block + ", distinct row " + i);
                assertEquals(e.getValue(), counts.count(i), "block " + block + ", row " + e.getKey());
                i++;
            }
            counts.clear();
            assertEquals(0, counts.size());
        }
    }

    @Test
    void moreDistinctRowsThanTheBlockIsABugThatNamesTheNumbers() {
        RowCounts counts = new RowCounts(3);
        counts.add(1);
        counts.add(2);
        counts.add(2);
        counts.add(3);
        var e = assertThrows(IllegalStateException.class, () -> counts.add(4));
        assertTrue(e.getMessage().contains("row 4 would be distinct row 4 of a block sized for 3"), e.getMessage());
        var bad = assertThrows(IllegalArgumentException.class, () -> new RowCounts(0));
        assertTrue(bad.getMessage().contains("got 0"), bad.getMessage());
    }

    /**
     * The operator's path (blocks of lookups counted per row, each distinct row sketched once with its
     * count) against one update per lookup, on seeded Zipf streams. The counters and the total are
     * identical (counts add). The heaps differ below the noise floor: one update per lookup admits
     * rows while a window's total is still tiny (any count beats e * N / width early on), a block
     * offers each row once with its estimate at the block's end. What is published is the same: the
     * merge re-ranks the candidates by the final sketch and drops those under e * N / width, so the
     * top rows written to feature-stats are identical, and every row whose true count is above that
     * floor is among them.
     */
    @Test
    void blocksPublishExactlyTheSketchAndTopKOfOneUpdatePerLookup() {
        for (long seed = 45; seed <= 47; seed++) {
            long[] stream = FrequencySketchTest.zipfStream(seed);
            Map<Long, Long> exact = new HashMap<>();
            for (long x : stream) exact.merge(x, 1L, Long::sum);
            double floor = Math.E / TableFrequencies.WIDTH * stream.length;
            for (int k : new int[]{10, 100, 1000}) {
                TableFrequencies single = new TableFrequencies(k);
                TableFrequencies blocked = new TableFrequencies(k);
                RowCounts block = new RowCounts(IdStatsPreAggregator.BLOCK);
                for (int i = 0; i < stream.length; i++) {
                    single.add(stream[i]);
                    block.add((int) stream[i]);
                    if ((i + 1) % IdStatsPreAggregator.BLOCK == 0 || i == stream.length - 1) {
                        blocked.addAll(block);
                        block.clear();
                    }
                }
                String at = "seed " + seed + ", k " + k;
                PartialIdStats a = single.toPartial(0, 0, 1);
                PartialIdStats b = blocked.toPartial(0, 0, 1);
                assertEquals(a.total, b.total, at);
                assertArrayEquals(a.sketch, b.sketch, at + ": counters");
                long[] published = publish(a, k);
                assertArrayEquals(published, publish(b, k), at + ": published top rows");
                Set<Long> top = new HashSet<>();
                for (long row : published) top.add(row);
                long heavy = exact.entrySet().stream().filter(e -> e.getValue() > floor).count();
                long found = exact.entrySet().stream().filter(e -> e.getValue() > floor && top.contains(e.getKey())).count();
                assertEquals(Math.min(k, heavy), found, at + ": rows above e * N / width (" + floor + ") published");
            }
        }
    }

    /** What {@link IdStatsMerger} writes for one subtask's partial. */
    private static long[] publish(PartialIdStats partial, int k) {
        TableFrequencies merged = new TableFrequencies(k);
        merged.merge(partial);
        return merged.topRows();
    }
}
