package dev.freshet.publisher;

import dev.freshet.schemas.UpdateKind;
import dev.freshet.trainer.ModelConfig;

import java.util.Map;
import java.util.Objects;

/**
 * A model version's provenance and table of contents (STYLE 6, after Tribuo's {@code ModelProvenance}):
 * written as {@code manifest.json} in the version's directory, last, so that a version with a manifest
 * is complete.
 *
 * @param formatVersion  of this manifest's layout; readers refuse one they do not know
 * @param parent         the version this one applies on top of (DELTA) or was derived from (FULL); null for the first
 * @param createdAt      epoch ms
 * @param layout         the feature layout the model was trained under, so serving maps raw events the same way; may be null
 * @param inputOffsets   next offset to consume per "topic-partition"
 * @param metrics        progressive validation metrics at publication ("auc", "logloss", ...)
 * @param files          every file of the version (path relative to the version directory) and its hex SHA-256
 * @param rollbackOf     for a FULL made by {@code freshet model rollback}: the version it republishes; else null
 */
public record ModelManifest(int formatVersion, String modelName, long version, Long parent, UpdateKind kind,
                            long createdAt, ModelConfig config, LayoutRef layout, Map<String, Long> inputOffsets,
                            long trainedExamples, long maxEventTime, String codeVersion, Map<String, Double> metrics,
                            Map<String, String> files, Long rollbackOf) {

    public static final int FORMAT_VERSION = 1;

    /** The feature layout as its spec string plus the values that change row indices and dense values. */
    public record LayoutRef(String name, String spec, long hashSeed, double denseClip, long id) {
    }

    public ModelManifest {
        Objects.requireNonNull(modelName, "modelName");
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(config, "config");
        inputOffsets = inputOffsets == null ? Map.of() : Map.copyOf(inputOffsets);
        metrics = metrics == null ? Map.of() : Map.copyOf(metrics);
        files = files == null ? Map.of() : Map.copyOf(files);
        codeVersion = codeVersion == null ? "" : codeVersion;
    }

    /** The progressive AUC recorded at publication, or NaN where none was measured. */
    public double auc() {
        Double a = metrics.get("auc");
        return a == null ? Double.NaN : a;
    }
}
