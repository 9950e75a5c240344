package dev.freshet.featurestream.internal;

import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.types.Either;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/** Splits the source's output: rows go on, dead letters to {@link #DEAD_LETTERS}. */
public final class DeadLetterRouter extends ProcessFunction<Either<FeatureRow, DeadLetter>, FeatureRow> {
    public static final OutputTag<DeadLetter> DEAD_LETTERS = new OutputTag<>("dead-letters", RecordTypes.DEAD_LETTER);

    @Override
    public void processElement(Either<FeatureRow, DeadLetter> value, Context ctx, Collector<FeatureRow> out) {
        if (value.isLeft()) {
            out.collect(value.left());
        } else {
            ctx.output(DEAD_LETTERS, value.right());
        }
    }
}
