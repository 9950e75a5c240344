package dev.freshet.trainer.online;

import dev.freshet.trainer.ModelDelta;
import dev.freshet.trainer.ModelSink;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.TrainingProgress;

import java.util.ArrayList;
import java.util.List;

/** Keeps every delta (they are copies already) and counts full hand-overs. */
final class RecordingSink implements ModelSink {
    final List<ModelDelta> deltas = new ArrayList<>();
    final List<TrainingProgress> fulls = new ArrayList<>();

    @Override
    public void delta(ModelDelta delta) {
        deltas.add(delta);
    }

    @Override
    public void full(ModelState state, TrainingProgress progress) {
        fulls.add(progress);
    }
}
