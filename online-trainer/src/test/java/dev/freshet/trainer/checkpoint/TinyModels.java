package dev.freshet.trainer.checkpoint;

import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.OptimizerKind;
import dev.freshet.trainer.OptimizerSpec;
import dev.freshet.trainer.Precision;
import dev.freshet.trainer.TableSpec;

import java.util.List;

/** Model configs small enough to check value by value. */
public final class TinyModels {
    private TinyModels() {
    }

    /** Three tables of 50, 20 and 7 rows, dim 4; Adam on the dense layers so both optimizer slots are in play. */
    public static ModelConfig tiny() {
        return new ModelConfig(List.of(new TableSpec("user", 50, 4), new TableSpec("item", 20, 4), new TableSpec("site", 7, 4)),
                3, 4, List.of(8, 4), List.of(8, 1), OptimizerSpec.of(OptimizerKind.ROWWISE_ADAGRAD, 0.05f),
                OptimizerSpec.of(OptimizerKind.ADAM, 0.01f), 16, 11, Precision.FP32);
    }
}
