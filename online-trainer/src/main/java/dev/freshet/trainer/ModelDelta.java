package dev.freshet.trainer;

import java.util.List;

/**
 * What changed since the previous hand-over: the touched embedding rows with their new values, and
 * all dense weights (small next to the tables).
 *
 * @param rows     per table that changed
 * @param dense    copy of every MLP weight and bias, in {@link DenseParameters} layout
 * @param progress where training stood when the delta was cut
 */
public record ModelDelta(ModelConfig config, List<TableRows> rows, float[] dense, TrainingProgress progress) {

    /**
     * @param table  index of the table in the config
     * @param rows   the changed row ids, ascending
     * @param values [rows.length, dim] their new weights, row-major
     */
    public record TableRows(int table, int[] rows, float[] values) {
    }

    public long rowCount() {
        return rows.stream().mapToLong(r -> r.rows().length).sum();
    }
}
