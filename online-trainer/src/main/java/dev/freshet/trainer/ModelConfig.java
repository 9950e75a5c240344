package dev.freshet.trainer;

import dev.freshet.config.ConfigException;
import dev.freshet.config.ConfigSource;
import dev.freshet.config.Setting;
import dev.freshet.features.FeatureLayout;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Every size of the DLRM model (Naumov et al., 2019, "Deep Learning Recommendation Model for
 * Personalization and Recommendation Systems"), in one typed, validated place.
 *
 * <pre>
 * dense [B, numDense] --bottomMlp--> [B, D]            D = embeddingDim = last bottom width
 * sparse [B, T] --T tables, sum-pooled--> [B, T, D]
 * interaction: pairwise dots of the F = T + 1 vectors (i > j) -> [B, F(F-1)/2], concatenated with [B, D]
 * topMlp: [B, D + F(F-1)/2] -> ... -> [B, 1] logit; loss BCE with logits
 * </pre>
 *
 * Initialisation is a function of {@link #seed} alone: the same config and seed give the same model on
 * every backend.
 */
public record ModelConfig(List<TableSpec> tables, int numDense, int embeddingDim, List<Integer> bottomMlp,
                          List<Integer> topMlp, OptimizerSpec embeddingOptimizer, OptimizerSpec denseOptimizer,
                          int batchSize, long seed, Precision precision) {

    public static final Setting<Integer> EMBEDDING_DIM = Setting.ofInt("model.embedding-dim", 16, 1, 4096,
            "Width D of every embedding row; the bottom MLP's last layer must equal it.");
    public static final Setting<String> BOTTOM_MLP = Setting.ofString("model.bottom-mlp", "64,16",
            "Bottom (dense-arch) MLP widths, comma-separated; the last equals model.embedding-dim.");
    public static final Setting<String> TOP_MLP = Setting.ofString("model.top-mlp", "128,64,1",
            "Top (over-arch) MLP widths, comma-separated; the last must be 1 (the logit).");
    public static final Setting<OptimizerKind> EMBEDDING_OPTIMIZER = Setting.ofEnum("model.embedding-optimizer",
            OptimizerKind.class, OptimizerKind.ROWWISE_ADAGRAD, "Update rule of the embedding rows (rowwise_adagrad or sgd).");
    public static final Setting<Double> EMBEDDING_LR = Setting.ofDouble("model.embedding-learning-rate", 0.05, 1e-9, 100,
            "Learning rate of the embedding rows.");
    public static final Setting<OptimizerKind> DENSE_OPTIMIZER = Setting.ofEnum("model.dense-optimizer",
            OptimizerKind.class, OptimizerKind.ADAGRAD, "Update rule of the MLP weights (adagrad, adam or sgd).");
    public static final Setting<Double> DENSE_LR = Setting.ofDouble("model.dense-learning-rate", 0.01, 1e-9, 100,
            "Learning rate of the MLP weights.");
    public static final Setting<Integer> BATCH_SIZE = Setting.ofInt("model.batch-size", 1024, 1, 1 << 20,
            "Examples per training step.");
    public static final Setting<Long> SEED = Setting.ofLong("model.seed", 42, Long.MIN_VALUE, Long.MAX_VALUE,
            "Seed of the initialisation (and of any shuffling): same input and seed, same model.");
    public static final Setting<Precision> PRECISION = Setting.ofEnum("model.precision", Precision.class, Precision.FP32,
            "Arithmetic of the MLPs on the GPU: fp32 or bf16 (weights stay fp32).");
    public static final List<Setting<?>> SETTINGS = List.of(EMBEDDING_DIM, BOTTOM_MLP, TOP_MLP, EMBEDDING_OPTIMIZER,
            EMBEDDING_LR, DENSE_OPTIMIZER, DENSE_LR, BATCH_SIZE, SEED, PRECISION);

    public ModelConfig {
        Objects.requireNonNull(tables, "tables");
        Objects.requireNonNull(embeddingOptimizer, "embeddingOptimizer");
        Objects.requireNonNull(denseOptimizer, "denseOptimizer");
        Objects.requireNonNull(precision, "precision");
        tables = List.copyOf(tables);
        bottomMlp = List.copyOf(bottomMlp);
        topMlp = List.copyOf(topMlp);
        if (tables.isEmpty()) throw new ConfigException("the model has no embedding tables: the feature layout needs at least one categorical column");
        if (numDense < 1) throw new ConfigException("the model has " + numDense + " dense features; DLRM's bottom MLP needs at least 1 (add a numeric or count column)");
        for (TableSpec t : tables) {
            if (t.dim() != embeddingDim) {
                throw new ConfigException("table " + t.name() + " has dim " + t.dim() + " but model.embedding-dim is " + embeddingDim + ": the dot interaction needs one width");
            }
        }
        if (bottomMlp.isEmpty() || bottomMlp.get(bottomMlp.size() - 1) != embeddingDim) {
            throw new ConfigException("model.bottom-mlp = " + bottomMlp + " must end in model.embedding-dim = " + embeddingDim + ". Fix: e.g. model.bottom-mlp=64," + embeddingDim);
        }
        if (topMlp.isEmpty() || topMlp.get(topMlp.size() - 1) != 1) {
            throw new ConfigException("model.top-mlp = " + topMlp + " must end in 1 (the logit). Fix: e.g. model.top-mlp=128,64,1");
        }
        for (int w : bottomMlp) if (w < 1 || w > 65536) throw new ConfigException("model.bottom-mlp width " + w + " out of range 1..65536");
        for (int w : topMlp) if (w < 1 || w > 65536) throw new ConfigException("model.top-mlp width " + w + " out of range 1..65536");
        if (embeddingOptimizer.kind() != OptimizerKind.ROWWISE_ADAGRAD && embeddingOptimizer.kind() != OptimizerKind.SGD) {
            throw new ConfigException("model.embedding-optimizer = " + embeddingOptimizer.kind() + " is not supported for embeddings; allowed rowwise_adagrad|sgd");
        }
        if (denseOptimizer.kind() == OptimizerKind.ROWWISE_ADAGRAD) {
            throw new ConfigException("model.dense-optimizer = rowwise_adagrad is for embeddings only; allowed adagrad|adam|sgd");
        }
        if (batchSize < 1) throw new ConfigException("model.batch-size " + batchSize + " must be >= 1");
    }

    /** The model for a feature layout, sizes from the config. */
    public static ModelConfig from(FeatureLayout layout, ConfigSource config) {
        int dim = config.get(EMBEDDING_DIM);
        List<TableSpec> tables = new ArrayList<>();
        for (FeatureLayout.Column c : layout.categorical()) {
            tables.add(new TableSpec(c.name(), c.tableRows(), dim));
        }
        return new ModelConfig(tables, layout.numDense(), dim, widths(BOTTOM_MLP, config.get(BOTTOM_MLP)),
                widths(TOP_MLP, config.get(TOP_MLP)),
                OptimizerSpec.of(config.get(EMBEDDING_OPTIMIZER), config.get(EMBEDDING_LR).floatValue()),
                OptimizerSpec.of(config.get(DENSE_OPTIMIZER), config.get(DENSE_LR).floatValue()),
                config.get(BATCH_SIZE), config.get(SEED), config.get(PRECISION));
    }

    /**
     * The benchmark models of ../shared/bench/torch_dlrm_peer.py on the Criteo Kaggle table sizes:
     * "kaggle128" (NVIDIA DeepLearningExamples) and "kaggle16" (facebookresearch/dlrm).
     */
    public static ModelConfig kaggle(String name, int batchSize, OptimizerKind embeddingOptimizer, Precision precision) {
        int dim;
        List<Integer> bottom;
        List<Integer> top;
        switch (name) {
            case "kaggle128" -> { dim = 128; bottom = List.of(512, 256, 128); top = List.of(1024, 1024, 512, 256, 1); }
            case "kaggle16" -> { dim = 16; bottom = List.of(512, 256, 64, 16); top = List.of(512, 256, 1); }
            default -> throw new IllegalArgumentException("unknown benchmark config '" + name + "'; allowed kaggle128|kaggle16");
        }
        List<TableSpec> tables = new ArrayList<>();
        long[] rows = FeatureLayout.KAGGLE_ROWS;
        for (int i = 0; i < rows.length; i++) tables.add(new TableSpec("C" + (i + 1), rows[i], dim));
        return new ModelConfig(tables, 13, dim, bottom, top, OptimizerSpec.of(embeddingOptimizer, 0.1f),
                OptimizerSpec.of(OptimizerKind.SGD, 0.1f), batchSize, 0, precision);
    }

    public int numTables() {
        return tables.size();
    }

    /** F: the vectors that interact (the tables' pooled rows plus the bottom MLP's output). */
    public int numInteractingVectors() {
        return tables.size() + 1;
    }

    /** D + F(F-1)/2: the top MLP's input width. */
    public int topInputWidth() {
        int f = numInteractingVectors();
        return embeddingDim + f * (f - 1) / 2;
    }

    public long totalRows() {
        return tables.stream().mapToLong(TableSpec::rows).sum();
    }

    /** Host bytes of all embedding weights and their row-wise optimizer state. */
    public long embeddingHostBytes() {
        return tables.stream().mapToLong(TableSpec::hostBytes).sum();
    }

    public ModelConfig withBatchSize(int newBatchSize) {
        return new ModelConfig(tables, numDense, embeddingDim, bottomMlp, topMlp, embeddingOptimizer, denseOptimizer,
                newBatchSize, seed, precision);
    }

    public ModelConfig withPrecision(Precision newPrecision) {
        return new ModelConfig(tables, numDense, embeddingDim, bottomMlp, topMlp, embeddingOptimizer, denseOptimizer,
                batchSize, seed, newPrecision);
    }

    static List<Integer> widths(Setting<String> setting, String text) {
        try {
            return Arrays.stream(text.split(",")).map(String::trim).map(Integer::parseInt).toList();
        } catch (NumberFormatException e) {
            throw new ConfigException("setting " + setting.key() + " = '" + text + "' is not a comma-separated list of widths, e.g. 64,16");
        }
    }
}
