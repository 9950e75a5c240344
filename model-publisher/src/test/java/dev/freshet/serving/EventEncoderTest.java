package dev.freshet.serving;

import dev.freshet.features.Examples;
import dev.freshet.features.FeatureTransform;
import dev.freshet.schemas.ClickEvent;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Raw events to model inputs: the feature job's transform, and bad events refused with a reason instead of thrown. */
class EventEncoderTest {
    @Test
    void encodesWithTheSharedTransformAndRefusesMisfits() {
        EventEncoder enc = new EventEncoder(TestModels.LAYOUT);
        FeatureTransform transform = new FeatureTransform(TestModels.LAYOUT);
        List<ClickEvent> events = new ArrayList<>(TestModels.events(3, 5));
        ClickEvent good = events.get(0);
        events.add(ClickEvent.newBuilder(good).setLayoutId(good.getLayoutId() + 1).build());
        events.add(ClickEvent.newBuilder(good).setDense(new ArrayList<>(List.of(1.0))).build());
        List<Double> nan = new ArrayList<>(good.getDense());
        nan.set(2, Double.NaN);
        events.add(ClickEvent.newBuilder(good).setDense(nan).build());
        events.add(ClickEvent.newBuilder(good).setCategorical(new ArrayList<>(List.of("x"))).build());

        Examples ex = new Examples(1, 3, 4);
        String[] errors = enc.encode(events, ex);
        assertEquals(7, ex.count);
        for (int i = 0; i < 3; i++) assertNull(errors[i], "event " + i);
        assertTrue(errors[3].contains("layout id"), errors[3]);
        assertTrue(errors[4].contains("1 dense values; the layout has 3"), errors[4]);
        assertTrue(errors[5].contains("NaN") && errors[5].contains("i3"), errors[5]);
        assertTrue(errors[6].contains("1 categorical values; the layout has 4"), errors[6]);

        for (int t = 0; t < 4; t++) assertEquals(transform.row(t, good.getCategorical().get(t)), ex.sparse[t]);
        for (int d = 0; d < 3; d++) {
            Double raw = good.getDense().get(d);
            assertEquals(transform.dense(d, raw == null ? Double.NaN : raw), ex.dense[d]);
        }
    }
}
