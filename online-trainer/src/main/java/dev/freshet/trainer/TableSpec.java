package dev.freshet.trainer;

import java.util.Objects;

/** One embedding table: one per categorical feature. */
public record TableSpec(String name, long rows, int dim) {
    public TableSpec {
        Objects.requireNonNull(name, "name");
        if (rows < 1 || rows > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("table " + name + " has " + rows + " rows; allowed 1.." + Integer.MAX_VALUE);
        }
        if (dim < 1 || dim > 4096) {
            throw new IllegalArgumentException("table " + name + " has dim " + dim + "; allowed 1..4096");
        }
    }

    /** Bytes of weights plus the row-wise optimizer state (one float per row). */
    public long hostBytes() {
        return rows * (dim + 1L) * Float.BYTES;
    }
}
