package dev.freshet.serving;

import dev.freshet.serving.internal.PagedTable;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Copy-on-write tables: a new version sees its rows, the old one is untouched. */
class PagedTableTest {
    @Test
    void withRowsLeavesTheOldVersionIntact() {
        for (int dim : new int[]{3, 16, 128, 600}) {
            int rows = 1001;
            PagedTable base = PagedTable.allocate(rows, dim);
            Random rnd = new Random(dim);
            float[][] want = new float[rows][dim];
            for (int r = 0; r < rows; r++) {
                for (int d = 0; d < dim; d++) want[r][d] = rnd.nextFloat();
                base.writeRowInPlace(r, want[r], 0);
            }
            int[] ids = {0, 1, 2, 63, 64, 500, 999, 1000};
            float[] values = new float[ids.length * dim];
            for (int i = 0; i < values.length; i++) values[i] = -1 - i;
            PagedTable next = base.withRows(ids, values);
            float[] row = new float[dim];
            for (int r = 0; r < rows; r++) {
                base.readRow(r, row, 0);
                assertArrayEquals(want[r], row, "old version, dim " + dim + " row " + r);
            }
            for (int i = 0; i < ids.length; i++) {
                next.readRow(ids[i], row, 0);
                assertEquals(-1 - i * dim, row[0], "new version, dim " + dim + " row " + ids[i]);
            }
            next.readRow(3, row, 0);
            assertArrayEquals(want[3], row);
            assertEquals(1, base.pageRows(), "a table of 1001 rows has pages of one row, dim " + dim);
            assertThrows(IllegalArgumentException.class, () -> base.withRows(new int[]{rows}, new float[dim]));
        }
    }

    @Test
    void pageSizeGrowsWithTheTable() {
        // sqrt(4R / (1024 * 64)) rows for dim 16: 2.5 -> 2, 24.7 -> 32; a page never exceeds 64 KiB.
        assertEquals(2, PagedTable.allocate(100_000, 16).pageRows());
        assertEquals(32, PagedTable.pageRowsFor(10_000_000, 16));
        assertEquals(1, PagedTable.pageRowsFor(10_000_000, 16_384));
    }

    @Test
    void severalRowSetsApplyInOrderAndShareUntouchedPages() {
        int rows = 5_000;
        int dim = 16;
        Random rnd = new Random(7);
        PagedTable base = PagedTable.allocate(rows, dim);
        float[][] want = new float[rows][dim];
        for (int r = 0; r < rows; r++) {
            for (int d = 0; d < dim; d++) want[r][d] = rnd.nextFloat();
            base.writeRowInPlace(r, want[r], 0);
        }
        float[][] old = new float[rows][];
        for (int r = 0; r < rows; r++) old[r] = want[r].clone();
        // Three sets of random ascending rows, overlapping: the later set's value must win, as if applied one by one.
        int[][] ids = new int[3][];
        float[][] values = new float[3][];
        PagedTable stepwise = base;
        for (int set = 0; set < 3; set++) {
            ids[set] = rnd.ints(400, 0, rows).distinct().sorted().toArray();
            values[set] = new float[ids[set].length * dim];
            for (int i = 0; i < ids[set].length; i++) {
                for (int d = 0; d < dim; d++) {
                    float v = rnd.nextFloat() - 2;
                    values[set][i * dim + d] = v;
                    want[ids[set][i]][d] = v;
                }
            }
            stepwise = stepwise.withRows(ids[set], values[set]);
        }
        PagedTable merged = base.withRows(List.of(ids), List.of(values));
        float[] row = new float[dim];
        float[] row2 = new float[dim];
        for (int r = 0; r < rows; r++) {
            merged.readRow(r, row, 0);
            assertArrayEquals(want[r], row, "merged, row " + r);
            stepwise.readRow(r, row2, 0);
            assertArrayEquals(row2, row, "merged equals stepwise, row " + r);
            base.readRow(r, row, 0);
            assertArrayEquals(old[r], row, "the base is untouched, row " + r);
        }
        assertThrows(IllegalArgumentException.class, () -> base.withRows(List.of(new int[]{1, 2}), List.of(new float[dim])));
    }
}
