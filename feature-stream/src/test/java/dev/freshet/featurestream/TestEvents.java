package dev.freshet.featurestream;

import dev.freshet.config.ConfigSource;
import dev.freshet.features.FeatureLayout;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.EventKind;
import dev.freshet.schemas.FeatureBatch;
import dev.freshet.schemas.serde.AvroCodec;
import dev.freshet.features.Examples;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Click events and configs for the feature-stream tests. */
final class TestEvents {
    /** A small layout: one count, one numeric, two categorical tables. */
    static final String SMALL_LAYOUT = "label:label,clicks:count,price:numeric,user:categorical:1000,item:categorical:500";

    private final FeatureLayout layout;
    private final AvroCodec<ClickEvent> codec = new AvroCodec<>(ClickEvent.class);

    TestEvents(FeatureLayout layout) {
        this.layout = layout;
    }

    static FeatureStreamConfig config(Map<String, String> overrides) {
        Map<String, String> values = new HashMap<>();
        values.put("features.columns", SMALL_LAYOUT);
        values.put("feature-stream.label-window", "10s");
        values.put("feature-stream.allowed-lateness", "0s");
        values.put("feature-stream.dedup-window", "1m");
        values.put("feature-stream.stats-window", "10s");
        values.put("feature-stream.top-k", "3");
        values.put("feature-stream.batch-size", "4");
        values.putAll(overrides);
        return FeatureStreamConfig.from(ConfigSource.of(values));
    }

    ClickEvent labeled(String id, long time, int label, String user, String item) {
        return event(id, time, EventKind.LABELED, null, label, user, item);
    }

    ClickEvent impression(String id, long time, String user, String item) {
        return event(id, time, EventKind.IMPRESSION, null, null, user, item);
    }

    ClickEvent click(String id, long time, String impressionId) {
        return ClickEvent.newBuilder().setEventId(id).setEventTime(Instant.ofEpochMilli(time)).setKind(EventKind.CLICK)
                .setImpressionId(impressionId).setLayoutId(layout.id()).setDense(List.of()).setCategorical(List.of()).build();
    }

    ClickEvent event(String id, long time, EventKind kind, String impressionId, Integer label, String user, String item) {
        List<Double> dense = new ArrayList<>(Arrays.asList(3.0, 9.5));
        List<String> cat = new ArrayList<>(Arrays.asList(user, item));
        return ClickEvent.newBuilder().setEventId(id).setEventTime(Instant.ofEpochMilli(time)).setKind(kind)
                .setImpressionId(impressionId).setLabel(label).setLayoutId(layout.id()).setDense(dense).setCategorical(cat).build();
    }

    byte[] encode(ClickEvent e) {
        return codec.encode(e);
    }

    /** Every example in encoded FeatureBatch records, in order. */
    static Examples decodeBatches(List<byte[]> records, FeatureLayout layout) {
        AvroCodec<FeatureBatch> batches = new AvroCodec<>(FeatureBatch.class);
        Examples all = new Examples(16, layout.numDense(), layout.numCategorical());
        for (byte[] r : records) {
            all.append(batches.decode(r));
        }
        return all;
    }

    /** Label by event id. */
    static Map<String, Integer> labels(Examples e) {
        Map<String, Integer> out = new HashMap<>();
        for (int i = 0; i < e.count; i++) {
            Integer before = out.put(e.eventIds.get(i), (int) e.labels[i]);
            if (before != null) {
                throw new AssertionError("example " + e.eventIds.get(i) + " written twice");
            }
        }
        return out;
    }
}
