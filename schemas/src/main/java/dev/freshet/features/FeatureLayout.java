package dev.freshet.features;

import dev.freshet.config.ConfigException;
import dev.freshet.config.ConfigSource;
import dev.freshet.config.Setting;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;

/**
 * The columns of a click log and what each one is: the built-in Criteo layout (label, 13 counts,
 * 26 categorical columns) or one a user describes in the config file, e.g.
 * {@code features.columns = label:label, user:categorical:5000000, item:categorical:200000, price:numeric}.
 * Column order is the order of fields in a TSV line; {@link ClickEvent} values follow the layout's
 * dense and categorical order. A layout's {@link #id()} covers everything that changes the row
 * indices or dense values, so the trainer can refuse features made under another layout.
 *
 * @param name      "criteo" or "custom"
 * @param columns   every column in file order
 * @param hashSeed  seed of the categorical hashing (changing it remaps every row)
 * @param denseClip dense values are clipped to [-denseClip, denseClip] after normalisation
 */
public record FeatureLayout(String name, List<Column> columns, long hashSeed, double denseClip) {

    /** What a column holds. COUNT is normalised with log(1 + x), NUMERIC only clipped. */
    public enum Kind { LABEL, EVENT_ID, EVENT_TIME, COUNT, NUMERIC, CATEGORICAL, SKIP }

    /** @param tableRows rows of the column's embedding table (CATEGORICAL only, else 0) */
    public record Column(String name, Kind kind, long tableRows) {
        public Column {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(kind, "kind");
            if (!name.matches("[A-Za-z_][A-Za-z0-9_.-]*")) {
                throw new ConfigException("feature column name '" + name + "' is invalid: use letters, digits, '_', '.', '-'.");
            }
            if (kind == Kind.CATEGORICAL && (tableRows < 1 || tableRows > Integer.MAX_VALUE)) {
                throw new ConfigException("table rows " + tableRows + " for column " + name + " out of range 1.." + Integer.MAX_VALUE + ".");
            }
        }

        public boolean dense() {
            return kind == Kind.COUNT || kind == Kind.NUMERIC;
        }
    }

    public static final Setting<String> COLUMNS = Setting.ofString("features.columns", "criteo",
            "Columns of the click log in file order: 'criteo', or name:kind[:rows],... with kind label|event_id|event_time|count|numeric|categorical|skip.");
    public static final Setting<Long> TABLE_ROWS = Setting.ofLong("features.table-rows", 100_000, 1, Integer.MAX_VALUE,
            "Rows of each embedding table whose column does not give its own (hash buckets).");
    public static final Setting<Long> HASH_SEED = Setting.ofLong("features.hash-seed", 0x5EEDL, Long.MIN_VALUE, Long.MAX_VALUE,
            "Seed of the categorical-value hashing; changing it remaps every embedding row.");
    public static final Setting<Double> DENSE_CLIP = Setting.ofDouble("features.dense-clip", 20.0, 1e-3, 1e9,
            "Normalised dense values are clipped to [-clip, clip].");
    public static final List<Setting<?>> SETTINGS = List.of(COLUMNS, TABLE_ROWS, HASH_SEED, DENSE_CLIP);

    /** Cardinalities of the Criteo Kaggle data set's 26 categorical columns (as in the GPU benchmarks). */
    public static final long[] KAGGLE_ROWS = {1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683,
            8351593, 3194, 27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572};

    public FeatureLayout {
        Objects.requireNonNull(name, "name");
        columns = List.copyOf(columns);
        Set<String> seen = new HashSet<>();
        int labels = 0;
        for (Column c : columns) {
            if (!seen.add(c.name())) {
                throw new ConfigException("feature column '" + c.name() + "' appears twice in the layout.");
            }
            if (c.kind() == Kind.LABEL) labels++;
        }
        if (labels > 1) {
            throw new ConfigException("the feature layout has " + labels + " label columns; at most one is allowed.");
        }
        if (columns.stream().noneMatch(c -> c.kind() == Kind.CATEGORICAL || c.dense())) {
            throw new ConfigException("the feature layout has no dense and no categorical column: nothing to learn from.");
        }
        if (!(denseClip > 0) || !Double.isFinite(denseClip)) {
            throw new ConfigException("dense clip " + denseClip + " must be a positive number.");
        }
    }

    /** Criteo's layout: label, I1..I13 counts, C1..C26 categorical, every table {@code tableRows} rows. */
    public static FeatureLayout criteo(long tableRows) {
        List<Column> cols = new ArrayList<>();
        cols.add(new Column("label", Kind.LABEL, 0));
        for (int i = 1; i <= 13; i++) cols.add(new Column("I" + i, Kind.COUNT, 0));
        for (int i = 1; i <= 26; i++) cols.add(new Column("C" + i, Kind.CATEGORICAL, tableRows));
        return new FeatureLayout("criteo", cols, 0x5EEDL, 20.0);
    }

    public static FeatureLayout from(ConfigSource config) {
        String spec = config.get(COLUMNS);
        long rows = config.get(TABLE_ROWS);
        FeatureLayout base = spec.equalsIgnoreCase("criteo") ? criteo(rows) : parse(spec, rows);
        return new FeatureLayout(base.name(), base.columns(), config.get(HASH_SEED), config.get(DENSE_CLIP));
    }

    /** Parses {@code name:kind[:rows],...}; rows default to {@code defaultRows} for categorical columns. */
    public static FeatureLayout parse(String spec, long defaultRows) {
        List<Column> cols = new ArrayList<>();
        for (String part : spec.split(",")) {
            String p = part.trim();
            if (p.isEmpty()) continue;
            String[] f = p.split(":");
            if (f.length < 2 || f.length > 3) {
                throw new ConfigException("feature column '" + p + "' must be name:kind or name:categorical:rows.");
            }
            Kind kind;
            try {
                kind = Kind.valueOf(f[1].trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new ConfigException("feature column '" + p + "' has unknown kind '" + f[1] + "'; allowed: label, event_id, event_time, count, numeric, categorical, skip.");
            }
            long rows = 0;
            if (kind == Kind.CATEGORICAL) {
                try {
                    rows = f.length == 3 ? Long.parseLong(f[2].trim().replace("_", "")) : defaultRows;
                } catch (NumberFormatException e) {
                    throw new ConfigException("feature column '" + p + "' has table rows '" + f[2] + "', not a number.");
                }
            } else if (f.length == 3) {
                throw new ConfigException("feature column '" + p + "': only categorical columns take a row count.");
            }
            cols.add(new Column(f[0].trim(), kind, rows));
        }
        return new FeatureLayout("custom", cols, 0x5EEDL, 20.0);
    }

    public List<Column> dense() {
        return columns.stream().filter(Column::dense).toList();
    }

    public List<Column> categorical() {
        return columns.stream().filter(c -> c.kind() == Kind.CATEGORICAL).toList();
    }

    public int numDense() {
        return (int) columns.stream().filter(Column::dense).count();
    }

    public int numCategorical() {
        return (int) columns.stream().filter(c -> c.kind() == Kind.CATEGORICAL).count();
    }

    /** Row counts of the embedding tables, in categorical order. */
    public long[] tableRows() {
        return categorical().stream().mapToLong(Column::tableRows).toArray();
    }

    public boolean hasLabel() {
        return columns.stream().anyMatch(c -> c.kind() == Kind.LABEL);
    }

    /** A fingerprint of everything that decides row indices and dense values (not the layout's name). */
    public long id() {
        StringBuilder sb = new StringBuilder("freshet-layout-v1;seed=").append(hashSeed).append(";clip=").append(denseClip);
        for (Column c : columns) {
            sb.append(';').append(c.name()).append(':').append(c.kind()).append(':').append(c.tableRows());
        }
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(sb.toString().getBytes(StandardCharsets.UTF_8));
            long id = 0;
            for (int i = 0; i < 8; i++) id = (id << 8) | (d[i] & 0xFF);
            return id;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 missing from this JVM", e);
        }
    }

    /** The spec string that {@link #parse} reads back into this layout. */
    public String spec() {
        StringBuilder sb = new StringBuilder();
        for (Column c : columns) {
            if (sb.length() > 0) sb.append(',');
            sb.append(c.name()).append(':').append(c.kind().name().toLowerCase(Locale.ROOT));
            if (c.kind() == Kind.CATEGORICAL) sb.append(':').append(c.tableRows());
        }
        return sb.toString();
    }
}
