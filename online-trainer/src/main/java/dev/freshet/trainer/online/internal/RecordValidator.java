package dev.freshet.trainer.online.internal;

import dev.freshet.features.Examples;
import dev.freshet.schemas.FeatureBatch;
import dev.freshet.schemas.serde.AvroCodec;
import dev.freshet.schemas.serde.RecordFormatException;
import dev.freshet.trainer.ModelConfig;

/**
 * Decodes a {@code features} record and checks everything the model relies on before any weight is
 * touched: layout, feature counts, array sizes, labels, dense values, embedding row ranges. A record that
 * fails is refused whole, with a message naming the value, the limit and a fix.
 */
public final class RecordValidator {
    /** Why a record was refused: the key of the rejection counters. */
    public enum Reason { CORRUPT, LAYOUT, SHAPE, LABEL, DENSE_VALUE, ROW_RANGE }

    /** A refused record. */
    public static final class Rejected extends Exception {
        private final Reason reason;

        Rejected(Reason reason, String message) {
            super(message, null, false, false);
            this.reason = reason;
        }

        public Reason reason() {
            return reason;
        }
    }

    private final ModelConfig model;
    private final long layoutId;
    private final long[] tableRows;
    private final AvroCodec<FeatureBatch> codec = new AvroCodec<>(FeatureBatch.class);

    /** @param layoutId the {@link dev.freshet.features.FeatureLayout#id()} the model was built for */
    public RecordValidator(ModelConfig model, long layoutId) {
        this.model = model;
        this.layoutId = layoutId;
        this.tableRows = model.tables().stream().mapToLong(t -> t.rows()).toArray();
    }

    public Examples decode(byte[] value) throws Rejected {
        if (value == null) throw new Rejected(Reason.CORRUPT, "record has no value (a tombstone?); features records always carry a FeatureBatch");
        FeatureBatch record;
        try {
            record = codec.decode(value);
        } catch (RecordFormatException e) {
            throw new Rejected(Reason.CORRUPT, e.getMessage());
        }
        if (record.getLayoutId() != layoutId) {
            throw new Rejected(Reason.LAYOUT, "record has feature layout id " + Long.toHexString(record.getLayoutId()) + " but the model was built for layout "
                    + Long.toHexString(layoutId) + ": the feature job and the trainer use different features.* settings. Fix: give both the same config file.");
        }
        int n = record.getCount();
        if (n < 0) throw new Rejected(Reason.CORRUPT, "record says it holds " + n + " examples");
        if (record.getNumDense() != model.numDense() || record.getNumSparse() != model.numTables()) {
            throw new Rejected(Reason.SHAPE, "record has " + record.getNumDense() + " dense and " + record.getNumSparse()
                    + " categorical features per example; the model expects " + model.numDense() + " and " + model.numTables());
        }
        Examples examples = new Examples(n, model.numDense(), model.numTables());
        try {
            examples.append(record);
        } catch (IllegalArgumentException e) {
            throw new Rejected(Reason.SHAPE, e.getMessage());
        }
        for (int i = 0; i < n; i++) {
            byte y = examples.labels[i];
            if (y != 0 && y != 1) throw new Rejected(Reason.LABEL, "example " + i + " has label " + y + "; labels are 0 or 1");
        }
        int d = model.numDense();
        for (int i = 0; i < n * d; i++) {
            if (!Float.isFinite(examples.dense[i])) {
                throw new Rejected(Reason.DENSE_VALUE, "example " + (i / d) + " has dense feature " + (i % d) + " = " + examples.dense[i]
                        + "; dense features must be finite (the feature job normalises and clips them)");
            }
        }
        int t = model.numTables();
        for (int i = 0; i < n * t; i++) {
            int row = examples.sparse[i];
            long rows = tableRows[i % t];
            if (row < 0 || row >= rows) {
                throw new Rejected(Reason.ROW_RANGE, "embedding row " + row + " out of range for table " + model.tables().get(i % t).name()
                        + " (" + rows + " rows) in example " + (i / t) + ". Fix: the feature job's features.table-rows must match the trainer's");
            }
        }
        return examples;
    }
}
