package dev.freshet.featurestream;

import dev.freshet.featurestream.internal.Deduplicator;
import org.apache.flink.runtime.OperatorIDPair;
import org.apache.flink.runtime.jobgraph.JobGraph;
import org.apache.flink.runtime.jobgraph.JobVertex;
import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.graph.StreamingJobGraphGenerator;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole job's JobGraph, as Flink would run it (nothing runs: building the graph needs no broker).
 * Which operators share a task decides what each example costs: between tasks it is serialized,
 * buffered and deserialized.
 */
class FeatureJobGraphTest {

    @Test
    void atParallelismOneTheDedupIsChainedToTheSourceWithoutAShuffle() {
        JobGraph graph = jobGraph(1);
        JobVertex source = vertexOf(graph, "clicks-source");
        for (String uid : List.of("route", "dedup", "batcher-labeled", "sketch-labeled")) {
            assertEquals(source.getID(), vertexOf(graph, uid).getID(), uid + " runs in the source's task: " + source.getName());
        }
        // The one task fewer than at parallelism 2 is the dedup's; the rest (join and statistics behind their keyBy,
        // the sinks behind unions) is the same.
        assertEquals(jobGraph(2).getNumberOfVertices() - 1, graph.getNumberOfVertices());
    }

    @Test
    void atParallelismTwoTheDedupStaysBehindAKeyBy() {
        JobGraph graph = jobGraph(2);
        JobVertex source = vertexOf(graph, "clicks-source");
        JobVertex dedup = vertexOf(graph, "dedup");
        assertNotEquals(source.getID(), dedup.getID(), "copies of an event from different partitions must meet in one subtask");
        assertEquals(source.getID(), vertexOf(graph, "route").getID());
        assertEquals(dedup.getID(), vertexOf(graph, "batcher-labeled").getID());
    }

    @Test
    void everyParallelismHasTheSameKeyGroupsSoCheckpointsRestoreAcrossThem() {
        for (int p : new int[]{1, 2, 3}) {
            for (JobVertex v : jobGraph(p).getVertices()) {
                assertEquals(FeatureStreamConfig.MAX_PARALLELISM, v.getMaxParallelism(), "parallelism " + p + ": " + v.getName());
            }
        }
    }

    @Test
    void everyKeyGroupHoldsDedupBucketsSoEverySubtaskUpToTheMaximumShares() {
        int[] buckets = new int[FeatureStreamConfig.MAX_PARALLELISM];
        for (int b = 0; b < Deduplicator.BUCKETS; b++) {
            buckets[KeyGroupRangeAssignment.assignToKeyGroup(b, FeatureStreamConfig.MAX_PARALLELISM)]++;
        }
        // Flink hashes keys into key groups (murmur), so the spread is uneven (3 to 14 buckets here), but none is empty.
        assertTrue(Arrays.stream(buckets).min().orElseThrow() >= 1, "buckets per key group: " + Arrays.toString(buckets));
    }

    private static JobGraph jobGraph(int parallelism) {
        FeatureStreamConfig config = TestEvents.config(Map.of(
                "kafka.bootstrap-servers", "127.0.0.1:9",
                "feature-stream.parallelism", Integer.toString(parallelism)));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism);
        FeatureJob.build(env, config);
        return env.getStreamGraph().getJobGraph();
    }

    private static JobVertex vertexOf(JobGraph graph, String uid) {
        OperatorID id = StreamingJobGraphGenerator.generateOperatorID(uid);
        for (JobVertex v : graph.getVertices()) {
            for (OperatorIDPair pair : v.getOperatorIDs()) {
                if (pair.getGeneratedOperatorID().equals(id)) return v;
            }
        }
        throw new AssertionError("no operator with uid " + uid + " in " + graph.getVertices());
    }
}
