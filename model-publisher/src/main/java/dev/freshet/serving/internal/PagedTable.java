package dev.freshet.serving.internal;

/**
 * An embedding table for serving: immutable once published, updated by copy-on-write of fixed pages of
 * {@value #PAGE_ROWS} rows. {@link #withRows} returns a new table that shares every untouched page with
 * this one, so a DELTA costs the pages it touches plus one pointer array, and a request reading the old
 * table never sees a row of the new one.
 */
public final class PagedTable {
    public static final int PAGE_SHIFT = 6;
    public static final int PAGE_ROWS = 1 << PAGE_SHIFT;
    private static final int PAGE_MASK = PAGE_ROWS - 1;

    private final int rows;
    private final int dim;
    private final float[][] pages;

    private PagedTable(int rows, int dim, float[][] pages) {
        this.rows = rows;
        this.dim = dim;
        this.pages = pages;
    }

    /** A zeroed table, to be filled through {@link #writeRowInPlace} before it is shared. */
    public static PagedTable allocate(int rows, int dim) {
        int n = (rows + PAGE_ROWS - 1) >>> PAGE_SHIFT;
        float[][] pages = new float[n][];
        for (int p = 0; p < n; p++) {
            int pageRows = Math.min(PAGE_ROWS, rows - (p << PAGE_SHIFT));
            pages[p] = new float[pageRows * dim];
        }
        return new PagedTable(rows, dim, pages);
    }

    public int rows() {
        return rows;
    }

    public int dim() {
        return dim;
    }

    public void readRow(int row, float[] dst, int offset) {
        System.arraycopy(pages[row >>> PAGE_SHIFT], (row & PAGE_MASK) * dim, dst, offset, dim);
    }

    /** Only while loading, before anyone else sees the table. */
    public void writeRowInPlace(int row, float[] src, int offset) {
        System.arraycopy(src, offset, pages[row >>> PAGE_SHIFT], (row & PAGE_MASK) * dim, dim);
    }

    /**
     * A new table equal to this one but with {@code ids} (ascending) set to {@code values} [ids.length, dim].
     * This table is unchanged.
     */
    public PagedTable withRows(int[] ids, float[] values) {
        float[][] next = pages.clone();
        int copied = -1;
        for (int i = 0; i < ids.length; i++) {
            int row = ids[i];
            if (row < 0 || row >= rows) {
                throw new IllegalArgumentException("row " + row + " out of range for a table of " + rows + " rows");
            }
            int p = row >>> PAGE_SHIFT;
            if (p != copied && next[p] == pages[p]) {
                next[p] = pages[p].clone();
                copied = p;
            }
            System.arraycopy(values, i * dim, next[p], (row & PAGE_MASK) * dim, dim);
        }
        return new PagedTable(rows, dim, next);
    }
}
