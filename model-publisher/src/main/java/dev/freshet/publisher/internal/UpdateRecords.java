package dev.freshet.publisher.internal;

import dev.freshet.schemas.ModelUpdate;
import dev.freshet.schemas.Provenance;
import dev.freshet.schemas.UpdateKind;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;

/** Builds the model-update records of one version: a FULL announcement, or a DELTA payload cut into chunks. */
public final class UpdateRecords {
    /** Room left in a record for everything but the payload (names, hashes, metrics, provenance, Kafka's framing). */
    public static final int RECORD_OVERHEAD_BYTES = 16 * 1024;

    private UpdateRecords() {
    }

    /**
     * The chunk records of a DELTA payload. Built lazily, one per {@code get}, so that hashing chunk i + 1
     * overlaps with the producer sending chunk i; only the whole payload's hash is computed up front.
     */
    public static List<ModelUpdate> deltaChunks(String model, long version, long parent, long createdAt, byte[] payload,
                                                int chunkBytes, Map<String, Double> metrics, Provenance provenance) {
        int count = Math.max(1, (int) ((payload.length + (long) chunkBytes - 1) / chunkBytes));
        String content = Sha256.hex(payload);
        Map<String, Double> m = Map.copyOf(metrics);
        return new java.util.AbstractList<>() {
            @Override
            public ModelUpdate get(int i) {
                java.util.Objects.checkIndex(i, count);
                int from = (int) Math.min(payload.length, (long) i * chunkBytes);
                int to = (int) Math.min(payload.length, (long) (i + 1) * chunkBytes);
                return ModelUpdate.newBuilder()
                        .setModelName(model).setVersion(version).setParentVersion(parent).setKind(UpdateKind.DELTA)
                        .setCreatedAt(java.time.Instant.ofEpochMilli(createdAt)).setArtifactRef(null)
                        .setChunkIndex(i).setChunkCount(count)
                        .setPayload(ByteBuffer.wrap(payload, from, to - from))
                        .setPayloadSha256(Sha256.hex(payload, from, to - from))
                        .setContentSha256(content)
                        .setMetrics(m).setProvenance(provenance)
                        .build();
            }

            @Override
            public int size() {
                return count;
            }
        };
    }

    public static ModelUpdate full(String model, long version, Long parent, long createdAt, String ref, String manifestSha256,
                                   Map<String, Double> metrics, Provenance provenance) {
        return ModelUpdate.newBuilder()
                .setModelName(model).setVersion(version).setParentVersion(parent).setKind(UpdateKind.FULL)
                .setCreatedAt(java.time.Instant.ofEpochMilli(createdAt)).setArtifactRef(ref)
                .setChunkIndex(0).setChunkCount(1).setPayload(ByteBuffer.allocate(0)).setPayloadSha256("")
                .setContentSha256(manifestSha256)
                .setMetrics(Map.copyOf(metrics)).setProvenance(provenance)
                .build();
    }
}
