package dev.freshet.serving.internal;

/**
 * An embedding table for serving: immutable once published, updated by copy-on-write of small pages.
 * {@link #withRows} returns a new table that shares every untouched page with this one, so a DELTA costs
 * the pages it touches plus one pointer array, and a request reading the old table never sees a row of
 * the new one.
 *
 * <p>Pages hold about {@value #PAGE_BYTES} bytes (a power of two of rows, at least one): hashed ids
 * spread a DELTA's rows evenly over the table, so nearly every touched row costs a page copy, and small
 * pages keep that copy close to the row itself while the pointer array stays a fraction of the table.
 */
public final class PagedTable {
    public static final int PAGE_BYTES = 1024;

    private final int rows;
    private final int dim;
    private final int pageShift;
    private final int pageMask;
    private final float[][] pages;

    private PagedTable(int rows, int dim, int pageShift, float[][] pages) {
        this.rows = rows;
        this.dim = dim;
        this.pageShift = pageShift;
        this.pageMask = (1 << pageShift) - 1;
        this.pages = pages;
    }

    /** A zeroed table, to be filled through {@link #writeRowInPlace} before it is shared. */
    public static PagedTable allocate(int rows, int dim) {
        int rowBytes = dim * Float.BYTES;
        int shift = 31 - Integer.numberOfLeadingZeros(Math.max(1, PAGE_BYTES / rowBytes));
        int pageRows = 1 << shift;
        int n = (int) (((long) rows + pageRows - 1) >>> shift);
        float[][] pages = new float[n][];
        for (int p = 0; p < n; p++) {
            int r = Math.min(pageRows, rows - (p << shift));
            pages[p] = new float[r * dim];
        }
        return new PagedTable(rows, dim, shift, pages);
    }

    /** Rows per copy-on-write page. */
    public int pageRows() {
        return 1 << pageShift;
    }

    public int rows() {
        return rows;
    }

    public int dim() {
        return dim;
    }

    public void readRow(int row, float[] dst, int offset) {
        System.arraycopy(pages[row >>> pageShift], (row & pageMask) * dim, dst, offset, dim);
    }

    /** Only while loading, before anyone else sees the table. */
    public void writeRowInPlace(int row, float[] src, int offset) {
        System.arraycopy(src, offset, pages[row >>> pageShift], (row & pageMask) * dim, dim);
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
            int p = row >>> pageShift;
            if (p != copied && next[p] == pages[p]) {
                next[p] = pages[p].clone();
                copied = p;
            }
            System.arraycopy(values, i * dim, next[p], (row & pageMask) * dim, dim);
        }
        return new PagedTable(rows, dim, pageShift, next);
    }
}
