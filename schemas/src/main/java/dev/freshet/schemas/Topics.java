package dev.freshet.schemas;

import dev.freshet.config.ConfigSource;
import dev.freshet.config.Setting;

import java.util.List;

/**
 * The Kafka topics of a Freshet deployment, by role. Names are settings so that several deployments
 * can share a cluster ({@code topics.prefix}).
 *
 * @param clicks       Avro {@link ClickEvent}s, the feature job's input
 * @param clicksJson   JSON click events, validated into {@code clicks} by the ingest topology
 * @param clicksDlq    rejected click events, reason and source position in headers
 * @param features     {@link FeatureBatch}es, the trainer's input
 * @param featuresDlq  events the feature job could not turn into examples, reason in headers
 * @param featureStats {@link IdFrequencyStats} per table and window
 * @param modelUpdates {@link ModelUpdate}s keyed by model name
 */
public record Topics(String clicks, String clicksJson, String clicksDlq, String features, String featuresDlq,
                     String featureStats, String modelUpdates) {

    public static final Setting<String> PREFIX = new Setting<>("topics.prefix", "string", "", "letters, digits, '.', '_', '-'",
            "Prefix for every Freshet topic name, so that deployments can share one Kafka cluster.",
            s -> s, s -> s.matches("[A-Za-z0-9._-]*"));
    public static final List<Setting<?>> SETTINGS = List.of(PREFIX);

    /** Header names carried by records on a dead-letter topic. */
    public static final String HEADER_REASON = "freshet.dlq.reason";
    public static final String HEADER_SOURCE_TOPIC = "freshet.dlq.source.topic";
    public static final String HEADER_SOURCE_PARTITION = "freshet.dlq.source.partition";
    public static final String HEADER_SOURCE_OFFSET = "freshet.dlq.source.offset";

    public static Topics withPrefix(String prefix) {
        return new Topics(prefix + "clicks", prefix + "clicks.json", prefix + "clicks.dlq", prefix + "features",
                prefix + "features.dlq", prefix + "feature-stats", prefix + "model-updates");
    }

    public static Topics defaults() {
        return withPrefix("");
    }

    public static Topics from(ConfigSource config) {
        return withPrefix(config.get(PREFIX));
    }

    public List<String> all() {
        return List.of(clicks, clicksJson, clicksDlq, features, featuresDlq, featureStats, modelUpdates);
    }
}
