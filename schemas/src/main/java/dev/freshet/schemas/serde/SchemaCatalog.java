package dev.freshet.schemas.serde;

import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Every writer schema a reader may face, by its 64-bit Rabin fingerprint (Avro's CRC-64-AVRO of the
 * parsing canonical form). It knows the schemas this build writes and, from
 * {@code dev/freshet/schemas/history/index.txt}, every earlier version Freshet has shipped; others can
 * be registered at run time (for instance from a newer writer's announcement). Thread-safe.
 */
public final class SchemaCatalog {
    private static final String HISTORY = "/dev/freshet/schemas/history/";
    private static final SchemaCatalog DEFAULT = new SchemaCatalog().loadHistory();

    private final Map<Long, Schema> byFingerprint = new ConcurrentHashMap<>();

    /** The process-wide catalog, with the shipped history loaded. */
    public static SchemaCatalog defaultCatalog() {
        return DEFAULT;
    }

    public static long fingerprint(Schema schema) {
        return SchemaNormalization.parsingFingerprint64(schema);
    }

    /** Adds {@code schema}; returns its fingerprint. */
    public long register(Schema schema) {
        Objects.requireNonNull(schema, "schema");
        long fp = fingerprint(schema);
        byFingerprint.putIfAbsent(fp, schema);
        return fp;
    }

    /** The schema with this fingerprint, or null. */
    public Schema find(long fingerprint) {
        return byFingerprint.get(fingerprint);
    }

    private SchemaCatalog loadHistory() {
        try (InputStream index = SchemaCatalog.class.getResourceAsStream(HISTORY + "index.txt")) {
            if (index == null) {
                return this;
            }
            for (String line : new String(index.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).split("\n")) {
                String name = line.trim();
                if (name.isEmpty() || name.startsWith("#")) continue;
                try (InputStream in = SchemaCatalog.class.getResourceAsStream(HISTORY + name)) {
                    if (in == null) {
                        throw new IllegalStateException("schema history lists " + name + " but the resource is missing");
                    }
                    register(new Schema.Parser().parse(in));
                }
            }
            return this;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the schema history", e);
        }
    }
}
