package dev.freshet.serving;

import dev.freshet.serving.internal.PagedTable;
import org.junit.jupiter.api.Test;

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
            assertEquals(Math.max(1, Integer.highestOneBit(Math.max(1, PagedTable.PAGE_BYTES / (dim * 4)))), base.pageRows());
            assertThrows(IllegalArgumentException.class, () -> base.withRows(new int[]{rows}, new float[dim]));
        }
    }
}
