package dev.freshet.serving.internal;

import com.fasterxml.jackson.databind.JsonNode;
import dev.freshet.features.FeatureLayout;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.EventKind;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Click events for {@code POST /predict}, in the JSON shape of the {@code clicks.json} topic (features by
 * column name; a feature left out is missing):
 * <pre>{"eventId": "e-1", "dense": {"I1": 3, ...}, "categorical": {"C1": "68fd1e64", ...}}</pre>
 * An event that does not fit becomes an {@link IllegalArgumentException} naming the field and value.
 */
public final class JsonEvents {
    private final FeatureLayout layout;
    private final Map<String, Integer> denseIndex = new HashMap<>();
    private final Map<String, Integer> categoricalIndex = new HashMap<>();

    public JsonEvents(FeatureLayout layout) {
        this.layout = layout;
        List<FeatureLayout.Column> dense = layout.dense();
        for (int i = 0; i < dense.size(); i++) denseIndex.put(dense.get(i).name(), i);
        List<FeatureLayout.Column> cat = layout.categorical();
        for (int i = 0; i < cat.size(); i++) categoricalIndex.put(cat.get(i).name(), i);
    }

    public ClickEvent parse(JsonNode e, int index) {
        if (!e.isObject()) throw new IllegalArgumentException("event " + index + " is " + e.getNodeType() + ", not a JSON object");
        Double[] dense = new Double[denseIndex.size()];
        String[] cat = new String[categoricalIndex.size()];
        JsonNode d = e.path("dense");
        for (Map.Entry<String, JsonNode> f : d.properties()) {
            Integer i = denseIndex.get(f.getKey());
            if (i == null) throw new IllegalArgumentException("event " + index + ": dense feature '" + f.getKey() + "' is not in layout " + layout.name() + " (" + denseIndex.keySet() + ")");
            if (f.getValue().isNull()) continue;
            if (!f.getValue().isNumber()) throw new IllegalArgumentException("event " + index + ": dense feature " + f.getKey() + " = " + f.getValue() + " is not a number");
            dense[i] = f.getValue().asDouble();
        }
        JsonNode c = e.path("categorical");
        for (Map.Entry<String, JsonNode> f : c.properties()) {
            Integer i = categoricalIndex.get(f.getKey());
            if (i == null) throw new IllegalArgumentException("event " + index + ": categorical feature '" + f.getKey() + "' is not in layout " + layout.name() + " (" + categoricalIndex.keySet() + ")");
            if (f.getValue().isNull()) continue;
            if (!f.getValue().isValueNode()) throw new IllegalArgumentException("event " + index + ": categorical feature " + f.getKey() + " must be a string");
            cat[i] = f.getValue().asText();
        }
        long time = e.path("eventTime").isNumber() ? e.path("eventTime").asLong() : System.currentTimeMillis();
        return ClickEvent.newBuilder()
                .setEventId(e.path("eventId").asText("request-" + index))
                .setEventTime(Instant.ofEpochMilli(time))
                .setKind(EventKind.IMPRESSION)
                .setLayoutId(layout.id())
                .setDense(new ArrayList<>(Arrays.asList(dense)))
                .setCategorical(new ArrayList<>(Arrays.asList(cat)))
                .build();
    }
}
