package dev.freshet.schemas.serde;

import dev.freshet.features.Examples;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.EventKind;
import dev.freshet.schemas.FeatureBatch;
import dev.freshet.schemas.IdFrequencyStats;
import dev.freshet.schemas.ModelUpdate;
import dev.freshet.schemas.Provenance;
import dev.freshet.schemas.UpdateKind;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/** One filled-in record of each type, with every optional field both set and unset somewhere. */
final class SampleRecords {
    private SampleRecords() {
    }

    static ClickEvent labeledClick() {
        return ClickEvent.newBuilder()
                .setEventId("criteo-sample.tsv:1")
                .setEventTime(Instant.ofEpochMilli(1_700_000_000_123L))
                .setKind(EventKind.LABELED)
                .setLabel(1)
                .setLayoutId(-4_321_987_654_321L)
                .setDense(Arrays.asList(1.0, null, 5.0, 0.0, 1382.0, -2.0, 15.0, 2.0, 181.0, 1.0, 2.0, null, 2.0))
                .setCategorical(Arrays.asList("68fd1e64", "80e26c9b", null, "7b4723c4", "ünïcödé", "", "de7995b8"))
                .build();
    }

    static ClickEvent click() {
        return ClickEvent.newBuilder()
                .setEventId("c-42")
                .setEventTime(Instant.ofEpochMilli(0))
                .setKind(EventKind.CLICK)
                .setImpressionId("i-41")
                .setLabel(null)
                .setLayoutId(7)
                .setDense(List.of())
                .setCategorical(List.of("user-9", "item-3"))
                .build();
    }

    static FeatureBatch featureBatch() {
        Examples ex = new Examples(3, 2, 3);
        ex.count = 3;
        ex.layoutId = 99;
        ex.labels = new byte[]{0, 1, 0};
        ex.dense = new float[]{0.5f, -1.25f, 0f, 3.75f, 20f, -20f};
        ex.sparse = new int[]{0, 1, 2, 99_999, 5, 7, 123, 456, 789};
        ex.eventTimes = new long[]{1L, Long.MAX_VALUE, -1L};
        ex.eventIds.addAll(List.of("a", "b", "c"));
        return ex.toRecord();
    }

    static IdFrequencyStats stats() {
        return IdFrequencyStats.newBuilder()
                .setTable("C3")
                .setTableIndex(2)
                .setWindowStart(Instant.ofEpochMilli(60_000))
                .setWindowEnd(Instant.ofEpochMilli(120_000))
                .setTotalCount(1_000_000_000_000L)
                .setRows(List.of(17L, 4L, 40_000_000L))
                .setCounts(List.of(900L, 80L, 3L))
                .build();
    }

    static ModelUpdate modelUpdate() {
        return ModelUpdate.newBuilder()
                .setModelName("ctr")
                .setVersion(12)
                .setParentVersion(11L)
                .setKind(UpdateKind.DELTA)
                .setCreatedAt(Instant.ofEpochMilli(1_700_000_999_000L))
                .setArtifactRef(null)
                .setChunkIndex(1)
                .setChunkCount(3)
                .setPayload(ByteBuffer.wrap("delta bytes \u0000\u00ff".getBytes(StandardCharsets.UTF_8)))
                .setPayloadSha256("ab".repeat(32))
                .setContentSha256("cd".repeat(32))
                .setMetrics(Map.of("auc", 0.7912, "logloss", 0.4567))
                .setProvenance(Provenance.newBuilder()
                        .setCodeVersion("0.1.0-SNAPSHOT")
                        .setConfigSha256("ef".repeat(32))
                        .setInputOffsets(Map.of("features-0", 1234L, "features-1", 0L))
                        .setTrainedExamples(5_000_000L)
                        .build())
                .build();
    }
}
