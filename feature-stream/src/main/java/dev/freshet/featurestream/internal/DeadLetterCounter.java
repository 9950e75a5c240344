package dev.freshet.featurestream.internal;

import dev.freshet.featurestream.FeatureJobMetrics;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;

import java.util.HashMap;
import java.util.Map;

/** Counts every dead letter on its way to the sink, in total and per category: the one place they are counted. */
public final class DeadLetterCounter extends RichMapFunction<DeadLetter, DeadLetter> {
    private transient MetricGroup group;
    private transient Counter total;
    private transient Map<String, Counter> byCategory;

    @Override
    public void open(OpenContext context) {
        group = getRuntimeContext().getMetricGroup().addGroup(FeatureJobMetrics.GROUP);
        total = group.counter(FeatureJobMetrics.DEAD_LETTERS);
        byCategory = new HashMap<>();
    }

    @Override
    public DeadLetter map(DeadLetter letter) {
        total.inc();
        byCategory.computeIfAbsent(letter.category, c -> group.counter(FeatureJobMetrics.DEAD_LETTERS + "." + c)).inc();
        return letter;
    }
}
