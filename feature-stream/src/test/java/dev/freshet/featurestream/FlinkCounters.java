package dev.freshet.featurestream;

import org.apache.flink.api.common.JobID;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Metric;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.testutils.InMemoryReporter;

import java.util.Map;

/** Reads the job's Freshet counters from Flink's metric system (summed over subtasks). */
final class FlinkCounters {
    private final InMemoryReporter reporter;

    FlinkCounters(InMemoryReporter reporter) {
        this.reporter = reporter;
    }

    long get(JobID job, String name) {
        long sum = 0;
        for (Map.Entry<MetricGroup, Map<String, Metric>> e : reporter.getMetricsByGroup().entrySet()) {
            MetricGroup group = e.getKey();
            String[] scope = group.getScopeComponents();
            if (!job.toString().equals(group.getAllVariables().get("<job_id>"))
                    || scope.length == 0 || !scope[scope.length - 1].equals(FeatureJobMetrics.GROUP)) {
                continue;
            }
            if (e.getValue().get(name) instanceof Counter c) {
                sum += c.getCount();
            }
        }
        return sum;
    }
}
