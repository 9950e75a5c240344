package dev.freshet.publisher;

import dev.freshet.trainer.EmbeddingTable;
import dev.freshet.trainer.ModelDelta;
import dev.freshet.trainer.ModelState;

import java.util.Optional;

/**
 * Decides whether a version may be published: none with a NaN or infinite weight anywhere, and none whose
 * progressive AUC fell more than {@code maxAucDrop} below the last published version's (a broken model
 * must never reach serving; a worse one only on purpose, through {@code freshet model rollback}).
 */
public final class QualityGate {
    /** Why a version was refused; the counters in {@link PublisherMetrics} are kept per reason. */
    public enum Reason { NON_FINITE, AUC_DROP }

    public record Verdict(Reason reason, String message) {
    }

    private final double maxAucDrop;

    public QualityGate(double maxAucDrop) {
        this.maxAucDrop = maxAucDrop;
    }

    /** Checks the AUC only; NaN on either side (not measured) passes. */
    public Optional<Verdict> checkAuc(long version, double auc, double lastPublishedAuc) {
        if (!Double.isNaN(auc) && !Double.isNaN(lastPublishedAuc) && auc < lastPublishedAuc - maxAucDrop) {
            return Optional.of(new Verdict(Reason.AUC_DROP, String.format(
                    "version %d: progressive AUC %.5f is %.5f below the last published %.5f (allowed drop %.5f)",
                    version, auc, lastPublishedAuc - auc, lastPublishedAuc, maxAucDrop)));
        }
        return Optional.empty();
    }

    public Optional<Verdict> checkDelta(long version, ModelDelta delta) {
        for (ModelDelta.TableRows r : delta.rows()) {
            int dim = delta.config().embeddingDim();
            int bad = firstNonFinite(r.values(), r.values().length);
            if (bad >= 0) {
                return Optional.of(nonFinite(version, "table " + delta.config().tables().get(r.table()).name() + " row "
                        + r.rows()[bad / dim] + " = " + r.values()[bad]));
            }
        }
        return checkDense(version, delta.dense());
    }

    public Optional<Verdict> checkState(long version, ModelState state) {
        for (int t = 0; t < state.tables().size(); t++) {
            EmbeddingTable table = state.tables().get(t);
            int dim = table.spec().dim();
            float[] row = new float[dim];
            for (int r = 0; r < table.spec().rows(); r++) {
                table.readRow(r, row, 0);
                int bad = firstNonFinite(row, dim);
                if (bad >= 0) return Optional.of(nonFinite(version, "table " + table.spec().name() + " row " + r + " = " + row[bad]));
            }
        }
        return checkDense(version, state.dense().values());
    }

    private Optional<Verdict> checkDense(long version, float[] dense) {
        int bad = firstNonFinite(dense, dense.length);
        return bad < 0 ? Optional.empty() : Optional.of(nonFinite(version, "dense weight " + bad + " = " + dense[bad]));
    }

    private static Verdict nonFinite(long version, String where) {
        return new Verdict(Reason.NON_FINITE, "version " + version + " has a non-finite weight (" + where
                + "): training diverged. Fix: lower the learning rate, resume from the last good checkpoint, or roll back");
    }

    private static int firstNonFinite(float[] v, int n) {
        for (int i = 0; i < n; i++) {
            if (!Float.isFinite(v[i])) return i;
        }
        return -1;
    }
}
