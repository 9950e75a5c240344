package dev.freshet.featurestream.internal;

import dev.freshet.features.FeatureLayout;

import java.io.Serializable;

/**
 * A {@link FeatureLayout} in a form Flink can ship to task managers with the job graph (the layout
 * record itself is not Serializable); {@link #layout()} rebuilds it and checks that the id matches.
 */
public record SerializableLayout(String name, String spec, long hashSeed, double denseClip, long id) implements Serializable {

    public static SerializableLayout of(FeatureLayout layout) {
        return new SerializableLayout(layout.name(), layout.spec(), layout.hashSeed(), layout.denseClip(), layout.id());
    }

    public FeatureLayout layout() {
        FeatureLayout parsed = FeatureLayout.parse(spec, 1);
        FeatureLayout layout = new FeatureLayout(name, parsed.columns(), hashSeed, denseClip);
        if (layout.id() != id) {
            throw new IllegalStateException(String.format("feature layout '%s' rebuilt with id %016x, expected %016x: the spec "
                    + "does not round-trip (a bug)", name, layout.id(), id));
        }
        return layout;
    }
}
