package dev.freshet.ingest.internal;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.freshet.features.FeatureLayout;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.EventKind;

import java.io.IOException;
import java.math.BigInteger;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Validates one JSON click event with named features and converts it to a {@link ClickEvent}:
 * <pre>
 * {"eventId": "e-1", "eventTime": 1700000000000 or "2023-11-14T22:13:20Z", "kind": "LABELED|IMPRESSION|CLICK",
 *  "impressionId": "..." (CLICK only), "label": 0|1 (LABELED only),
 *  "dense": {"I1": 3, ...}, "categorical": {"C1": "68fd1e64", ...}}
 * </pre>
 * Features left out are missing values. Everything else is a rejection whose reason names the field, the
 * value and what was allowed: not JSON, duplicate or unknown fields, missing or wrongly typed fields,
 * NaN or Infinity, feature names the layout does not have, oversized records. Thread-safe.
 */
public final class JsonClickParser {
    private static final Set<String> FIELDS = Set.of("eventId", "eventTime", "kind", "impressionId", "label", "dense", "categorical");
    private static final int MAX_SHOWN = 60;
    private static final int MAX_STRING = 1024;

    /** What one record became. Exactly one of event and reason is non-null. */
    public record Outcome(ClickEvent event, String reason) {
        static Outcome reject(String reason) {
            return new Outcome(null, reason);
        }
    }

    private final ObjectMapper mapper = JsonMapper.builder()
            // Parse NaN/Infinity so that the reason can say so, instead of a generic syntax error.
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();
    private final long layoutId;
    private final Map<String, Integer> denseIndex = new HashMap<>();
    private final boolean[] denseIsCount;
    private final Map<String, Integer> categoricalIndex = new HashMap<>();
    private final int maxBytes;

    public JsonClickParser(FeatureLayout layout, int maxBytes) {
        Objects.requireNonNull(layout, "layout");
        this.layoutId = layout.id();
        this.maxBytes = maxBytes;
        var dense = layout.dense();
        denseIsCount = new boolean[dense.size()];
        for (int i = 0; i < dense.size(); i++) {
            denseIndex.put(dense.get(i).name(), i);
            denseIsCount[i] = dense.get(i).kind() == FeatureLayout.Kind.COUNT;
        }
        var categorical = layout.categorical();
        for (int i = 0; i < categorical.size(); i++) {
            categoricalIndex.put(categorical.get(i).name(), i);
        }
    }

    public Outcome parse(byte[] value) {
        if (value == null) {
            return Outcome.reject("empty record: the value is null");
        }
        if (value.length > maxBytes) {
            return Outcome.reject("oversized record: " + value.length + " bytes, limit " + maxBytes
                    + " (ingest.json.max-record-bytes)");
        }
        JsonNode root;
        try {
            root = mapper.readTree(value);
        } catch (JsonProcessingException e) {
            return Outcome.reject("not JSON: " + e.getOriginalMessage() + " at " + location(e));
        } catch (IOException e) {
            return Outcome.reject("not JSON: " + e.getMessage());
        }
        if (root == null || root.isMissingNode()) {
            return Outcome.reject("not JSON: the record is empty");
        }
        if (!root.isObject()) {
            return Outcome.reject("not a JSON object: the record is a " + type(root));
        }
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            if (!FIELDS.contains(name)) {
                return Outcome.reject("unknown field '" + shorten(name) + "'; allowed: " + String.join(", ", new java.util.TreeSet<>(FIELDS)));
            }
        }
        try {
            return new Outcome(convert(root), null);
        } catch (Invalid e) {
            return Outcome.reject(e.getMessage());
        }
    }

    private ClickEvent convert(JsonNode root) {
        String eventId = requiredString(root, "eventId");
        long eventTime = eventTime(root.get("eventTime"));
        JsonNode labelNode = root.get("label");
        Integer label = null;
        if (labelNode != null && !labelNode.isNull()) {
            if (!labelNode.isIntegralNumber() || !(labelNode.bigIntegerValue().equals(BigInteger.ZERO) || labelNode.bigIntegerValue().equals(BigInteger.ONE))) {
                throw new Invalid("label must be 0 or 1, got " + shown(labelNode));
            }
            label = labelNode.intValue();
        }
        EventKind kind = kind(root.get("kind"), label);
        String impressionId = optionalString(root, "impressionId");
        switch (kind) {
            case LABELED -> {
                if (label == null) throw new Invalid("label is missing; a LABELED event needs label 0 or 1 (or send kind IMPRESSION)");
            }
            case IMPRESSION -> {
                if (label != null) throw new Invalid("an IMPRESSION carries no label (the click join decides it); got label " + label);
            }
            case CLICK -> {
                if (impressionId == null) throw new Invalid("impressionId is missing; a CLICK must name the impression it clicks");
                if (label != null) throw new Invalid("a CLICK carries no label; got label " + label);
            }
        }
        if (kind != EventKind.CLICK && impressionId != null) {
            throw new Invalid("impressionId is only allowed on CLICK events, this one is " + kind);
        }
        Double[] dense = new Double[denseIsCount.length];
        JsonNode denseNode = root.get("dense");
        if (denseNode != null && !denseNode.isNull()) {
            if (!denseNode.isObject()) throw new Invalid("dense must be an object of feature name to number, got " + type(denseNode));
            for (Map.Entry<String, JsonNode> f : denseNode.properties()) {
                Integer i = denseIndex.get(f.getKey());
                if (i == null) {
                    throw new Invalid("unknown dense feature '" + shorten(f.getKey()) + "'; the layout's dense features are " + names(denseIndex));
                }
                dense[i] = denseValue("dense." + f.getKey(), f.getValue(), denseIsCount[i]);
            }
        }
        String[] categorical = new String[categoricalIndex.size()];
        JsonNode catNode = root.get("categorical");
        if (catNode != null && !catNode.isNull()) {
            if (!catNode.isObject()) throw new Invalid("categorical must be an object of feature name to string, got " + type(catNode));
            for (Map.Entry<String, JsonNode> f : catNode.properties()) {
                Integer i = categoricalIndex.get(f.getKey());
                if (i == null) {
                    throw new Invalid("unknown categorical feature '" + shorten(f.getKey()) + "'; the layout's categorical features are "
                            + names(categoricalIndex));
                }
                JsonNode v = f.getValue();
                if (v.isNull()) continue;
                if (!v.isTextual()) throw new Invalid("categorical." + f.getKey() + " must be a string or null, got " + type(v) + " " + shown(v));
                if (v.textValue().length() > MAX_STRING) {
                    throw new Invalid("categorical." + f.getKey() + " is " + v.textValue().length() + " characters, limit " + MAX_STRING);
                }
                categorical[i] = v.textValue();
            }
        }
        ClickEvent event = new ClickEvent();
        event.setEventId(eventId);
        event.setEventTime(Instant.ofEpochMilli(eventTime));
        event.setKind(kind);
        event.setImpressionId(impressionId);
        event.setLabel(label);
        event.setLayoutId(layoutId);
        event.setDense(Arrays.asList(dense));
        event.setCategorical(Arrays.asList(categorical));
        return event;
    }

    private static Double denseValue(String field, JsonNode v, boolean count) {
        if (v.isNull()) return null;
        if (!v.isNumber()) throw new Invalid(field + " must be a number or null, got " + type(v) + " " + shown(v));
        if (v.isIntegralNumber()) {
            BigInteger b = v.bigIntegerValue();
            if (b.bitLength() > 63) throw new Invalid(field + " = " + shown(v) + " overflows a 64-bit integer");
            return (double) b.longValue();
        }
        double d = v.doubleValue();
        if (!Double.isFinite(d)) {
            throw new Invalid(field + " = " + d + " is not finite (NaN and Infinity are not allowed)");
        }
        if (count && d != Math.rint(d)) {
            throw new Invalid(field + " = " + shown(v) + " is not an integer (it is a count column)");
        }
        return d;
    }

    private static long eventTime(JsonNode v) {
        if (v == null || v.isNull()) throw new Invalid("eventTime is missing; send epoch milliseconds or an ISO-8601 instant");
        if (v.isIntegralNumber()) {
            BigInteger b = v.bigIntegerValue();
            if (b.bitLength() > 63) throw new Invalid("eventTime = " + shown(v) + " overflows a 64-bit integer");
            return b.longValue();
        }
        if (v.isTextual()) {
            try {
                return Instant.parse(v.textValue()).toEpochMilli();
            } catch (DateTimeParseException | ArithmeticException e) {
                throw new Invalid("eventTime = " + shown(v) + " is not an ISO-8601 instant like 2024-01-31T12:00:00Z");
            }
        }
        throw new Invalid("eventTime must be epoch milliseconds (an integer) or an ISO-8601 string, got " + type(v) + " " + shown(v));
    }

    private static EventKind kind(JsonNode v, Integer label) {
        if (v == null || v.isNull()) return label != null ? EventKind.LABELED : EventKind.IMPRESSION;
        if (!v.isTextual()) throw new Invalid("kind must be a string LABELED, IMPRESSION or CLICK, got " + type(v) + " " + shown(v));
        try {
            return EventKind.valueOf(v.textValue().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new Invalid("kind = " + shown(v) + " is not LABELED, IMPRESSION or CLICK");
        }
    }

    private static String requiredString(JsonNode root, String field) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) throw new Invalid(field + " is missing");
        if (!v.isTextual()) throw new Invalid(field + " must be a string, got " + type(v) + " " + shown(v));
        if (v.textValue().isEmpty()) throw new Invalid(field + " is empty");
        if (v.textValue().length() > MAX_STRING) throw new Invalid(field + " is " + v.textValue().length() + " characters, limit " + MAX_STRING);
        return v.textValue();
    }

    private static String optionalString(JsonNode root, String field) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) return null;
        return requiredString(root, field);
    }

    private static String type(JsonNode v) {
        return switch (v.getNodeType()) {
            case ARRAY -> "array";
            case BOOLEAN -> "boolean";
            case NUMBER -> "number";
            case OBJECT -> "object";
            case STRING -> "string";
            case NULL -> "null";
            default -> v.getNodeType().name().toLowerCase(Locale.ROOT);
        };
    }

    private static String shown(JsonNode v) {
        return shorten(v.toString());
    }

    private static String shorten(String s) {
        return s.length() <= MAX_SHOWN ? s : s.substring(0, MAX_SHOWN) + "... (" + s.length() + " chars)";
    }

    private static String names(Map<String, Integer> index) {
        String all = index.entrySet().stream().sorted(Map.Entry.comparingByValue()).map(Map.Entry::getKey).toList().toString();
        return shorten(all);
    }

    private static String location(JsonProcessingException e) {
        return e.getLocation() == null ? "unknown position" : "byte " + e.getLocation().getByteOffset();
    }

    /** A validation failure; its message is the reject reason. Stack-less: rejects are routine. */
    private static final class Invalid extends RuntimeException {
        Invalid(String reason) {
            super(reason, null, false, false);
        }
    }
}
