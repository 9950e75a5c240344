package dev.freshet.serving.internal;

import java.util.List;

/**
 * An embedding table for serving: immutable once published, updated by copy-on-write of small pages.
 * {@link #withRows} returns a new table that shares every untouched page with this one, so a DELTA costs
 * the pages it touches plus one pointer array, and a request reading the old table never sees a row of
 * the new one.
 *
 * <p>Page size: hashed ids spread a DELTA's rows evenly over the table, so nearly every touched row
 * costs a page copy, while the pointer array is copied whole. For a table of R rows of b bytes and a
 * delta touching k of them, a page of p rows costs about {@code 4R/p + k(pb + 16)} bytes, least at
 * {@code p = sqrt(4R / (kb))}. {@link #allocate} takes that p (a power of two) for
 * k = {@value #TOUCHED_ROWS_HINT}, about what one table gets per DELTA in the embedded demo at 10,000
 * events/s with 250 ms deltas (1,000-1,900 rows of 100,000). There a 100,000-row table of 16 floats gets
 * pages of 2 rows: about 0.35 MB copied per table and delta against 1.1 MB with the 1 KiB pages used
 * before, whose copies were the largest item of what the serving replica allocated (JFR, pipeline
 * benchmark: 5.7 of the replica's 14 GB, of the process's 36 GB). A 10M-row table gets pages of 32 rows.
 * Pages stay within {@value #MAX_PAGE_BYTES} bytes.
 */
public final class PagedTable {
    /** Rows of one table a DELTA is expected to touch, for the page size (see the class comment). */
    public static final int TOUCHED_ROWS_HINT = 1024;
    public static final int MAX_PAGE_BYTES = 64 * 1024;

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
        int shift = Integer.numberOfTrailingZeros(pageRowsFor(rows, dim));
        int pageRows = 1 << shift;
        int n = (int) (((long) rows + pageRows - 1) >>> shift);
        float[][] pages = new float[n][];
        for (int p = 0; p < n; p++) {
            int r = Math.min(pageRows, rows - (p << shift));
            pages[p] = new float[r * dim];
        }
        return new PagedTable(rows, dim, shift, pages);
    }

    /** Rows per page (a power of two) for a table of {@code rows} rows of {@code dim} floats (see the class comment). */
    public static int pageRowsFor(int rows, int dim) {
        long rowBytes = (long) dim * Float.BYTES;
        double best = Math.sqrt(4.0 * rows / ((double) TOUCHED_ROWS_HINT * rowBytes));
        int shift = (int) Math.max(0, Math.round(Math.log(best) / Math.log(2)));
        while (shift > 0 && (rowBytes << shift) > MAX_PAGE_BYTES) shift--;
        return 1 << shift;
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
        return withRows(List.of(ids), List.of(values));
    }

    /**
     * A new table equal to this one with several row sets written in order (a later set wins where two
     * hold a row), as if {@link #withRows(int[], float[])} were applied once per set; but each page is
     * copied at most once, and only the last table is built. Serving uses it to apply the DELTAs that
     * queued up while it applied the one before in one step. Each {@code ids[i]} is ascending, with
     * {@code values[i]} [ids[i].length, dim]. This table is unchanged.
     */
    public PagedTable withRows(List<int[]> ids, List<float[]> values) {
        if (ids.size() != values.size()) {
            throw new IllegalArgumentException(ids.size() + " row sets but " + values.size() + " value sets");
        }
        float[][] next = pages.clone();
        for (int set = 0; set < ids.size(); set++) {
            int[] rowIds = ids.get(set);
            float[] rowValues = values.get(set);
            if ((long) rowIds.length * dim != rowValues.length) {
                throw new IllegalArgumentException(rowIds.length + " rows need " + (long) rowIds.length * dim + " values (dim " + dim
                        + "), got " + rowValues.length);
            }
            for (int i = 0; i < rowIds.length; i++) {
                int row = rowIds[i];
                if (row < 0 || row >= rows) {
                    throw new IllegalArgumentException("row " + row + " out of range for a table of " + rows + " rows");
                }
                int p = row >>> pageShift;
                // Still this table's page: copy it once; a page copied for an earlier row or set is the new table's own.
                if (next[p] == pages[p]) next[p] = pages[p].clone();
                System.arraycopy(rowValues, i * dim, next[p], (row & pageMask) * dim, dim);
            }
        }
        return new PagedTable(rows, dim, pageShift, next);
    }
}
