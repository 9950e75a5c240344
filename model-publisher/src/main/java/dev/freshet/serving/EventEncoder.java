package dev.freshet.serving;

import dev.freshet.features.Examples;
import dev.freshet.features.FeatureLayout;
import dev.freshet.features.FeatureTransform;
import dev.freshet.schemas.ClickEvent;

import java.util.List;
import java.util.Objects;

/**
 * Raw click events to model inputs with the same {@link FeatureTransform} the feature job uses, so that
 * serving scores an event exactly as training saw it. An event that does not fit the layout is refused
 * with a reason (and scored on zero inputs, to keep batch positions), never thrown on.
 */
public final class EventEncoder {
    private final FeatureLayout layout;
    private final FeatureTransform transform;
    private final long layoutId;

    public EventEncoder(FeatureLayout layout) {
        this.layout = Objects.requireNonNull(layout, "layout");
        this.transform = new FeatureTransform(layout);
        this.layoutId = layout.id();
    }

    public FeatureLayout layout() {
        return layout;
    }

    /**
     * Writes the events' embedding rows and normalised dense features into {@code out} (cleared first).
     *
     * @return per event, null or why it was refused
     */
    public String[] encode(List<ClickEvent> events, Examples out) {
        out.clear();
        out.ensureCapacity(events.size());
        out.layoutId = layoutId;
        int nd = out.numDense;
        int ns = out.numSparse;
        String[] errors = new String[events.size()];
        for (int b = 0; b < events.size(); b++) {
            ClickEvent e = events.get(b);
            String error = check(e, nd, ns);
            errors[b] = error;
            for (int i = 0; i < nd; i++) {
                Double raw = error == null ? e.getDense().get(i) : null;
                out.dense[b * nd + i] = transform.dense(i, raw == null ? Double.NaN : raw);
            }
            for (int t = 0; t < ns; t++) {
                out.sparse[b * ns + t] = error == null ? transform.row(t, e.getCategorical().get(t)) : 0;
            }
            Integer label = e.getLabel();
            out.labels[b] = (byte) (label != null && label == 1 ? 1 : 0);
            out.eventTimes[b] = e.getEventTime() == null ? 0 : e.getEventTime().toEpochMilli();
            out.eventIds.add(e.getEventId());
            out.count++;
        }
        return errors;
    }

    private String check(ClickEvent e, int nd, int ns) {
        if (e == null) return "null event";
        if (e.getLayoutId() != layoutId) {
            return "event " + e.getEventId() + " has layout id " + e.getLayoutId() + "; this model was trained under layout "
                    + layout.name() + " (id " + layoutId + ")";
        }
        if (e.getDense() == null || e.getDense().size() != nd) {
            return "event " + e.getEventId() + " has " + (e.getDense() == null ? 0 : e.getDense().size()) + " dense values; the layout has " + nd;
        }
        if (e.getCategorical() == null || e.getCategorical().size() != ns) {
            return "event " + e.getEventId() + " has " + (e.getCategorical() == null ? 0 : e.getCategorical().size())
                    + " categorical values; the layout has " + ns;
        }
        for (int i = 0; i < nd; i++) {
            Double v = e.getDense().get(i);
            if (v != null && !Double.isFinite(v)) {
                return "event " + e.getEventId() + " has dense value " + v + " for " + layout.dense().get(i).name();
            }
        }
        return null;
    }
}
