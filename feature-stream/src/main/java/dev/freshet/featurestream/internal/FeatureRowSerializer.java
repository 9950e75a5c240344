package dev.freshet.featurestream.internal;

import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * Flink serializer of {@link FeatureRow} for the job's network exchanges (decoded rows to dedup, to the
 * join, ...): the fields in a fixed order, written and read directly.
 *
 * <pre>
 * kind byte | eventIdHash long | eventTime long | label byte | eventId, impressionId (UTF-8: int n (-1 = null), n bytes)
 * | dense: int n (-1 = null), n floats | sparse: int n (-1 = null), n ints
 * | source: byte 0 (null) or 1, then topic (UTF-8), partition int, offset long, key and value (int n (-1 = null), n bytes)
 * </pre>
 * Every example crosses the network at least once (the keyBy before dedup), serialized by the sending
 * subtask and deserialized by the receiving one; Flink's POJO serializer reads each field by
 * reflection and writes a null marker before it, and took about twice as long per row.
 *
 * <p>Used only for records in flight ({@link RecordTypes#ROW}). State that holds a FeatureRow (the
 * join's pending impression) keeps the POJO serializer that Flink derives for it, so savepoints stay
 * readable across this change.
 */
public final class FeatureRowSerializer extends TypeSerializerSingleton<FeatureRow> {
    public static final FeatureRowSerializer INSTANCE = new FeatureRowSerializer();

    private FeatureRowSerializer() {
    }

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public FeatureRow createInstance() {
        return new FeatureRow();
    }

    @Override
    public FeatureRow copy(FeatureRow from) {
        FeatureRow row = new FeatureRow(from.eventId, from.eventIdHash, from.kind, from.impressionId, from.eventTime, from.label,
                from.dense == null ? null : from.dense.clone(), from.sparse == null ? null : from.sparse.clone());
        SourceRecord s = from.source;
        if (s != null) {
            row.source = new SourceRecord(s.topic, s.partition, s.offset, s.key == null ? null : s.key.clone(),
                    s.value == null ? null : s.value.clone());
        }
        return row;
    }

    @Override
    public FeatureRow copy(FeatureRow from, FeatureRow reuse) {
        return copy(from);
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(FeatureRow row, DataOutputView out) throws IOException {
        out.writeByte(row.kind);
        out.writeLong(row.eventIdHash);
        out.writeLong(row.eventTime);
        out.writeByte(row.label);
        writeString(row.eventId, out);
        writeString(row.impressionId, out);
        float[] dense = row.dense;
        if (dense == null) {
            out.writeInt(-1);
        } else {
            out.writeInt(dense.length);
            for (float v : dense) out.writeFloat(v);
        }
        int[] sparse = row.sparse;
        if (sparse == null) {
            out.writeInt(-1);
        } else {
            out.writeInt(sparse.length);
            for (int v : sparse) out.writeInt(v);
        }
        SourceRecord source = row.source;
        if (source == null) {
            out.writeByte(0);
        } else {
            out.writeByte(1);
            writeString(source.topic, out);
            out.writeInt(source.partition);
            out.writeLong(source.offset);
            writeBytes(source.key, out);
            writeBytes(source.value, out);
        }
    }

    /** UTF-8 rather than Flink's StringValue, which encodes char by char through a thread-local buffer. */
    private static void writeString(String s, DataOutputView out) throws IOException {
        writeBytes(s == null ? null : s.getBytes(StandardCharsets.UTF_8), out);
    }

    private static String readString(DataInputView in) throws IOException {
        byte[] bytes = readBytes(in);
        return bytes == null ? null : new String(bytes, StandardCharsets.UTF_8);
    }

    private static void writeBytes(byte[] bytes, DataOutputView out) throws IOException {
        if (bytes == null) {
            out.writeInt(-1);
        } else {
            out.writeInt(bytes.length);
            out.write(bytes);
        }
    }

    private static byte[] readBytes(DataInputView in) throws IOException {
        int n = in.readInt();
        if (n < 0) return null;
        byte[] bytes = new byte[n];
        in.readFully(bytes);
        return bytes;
    }

    @Override
    public FeatureRow deserialize(DataInputView in) throws IOException {
        FeatureRow row = new FeatureRow();
        row.kind = in.readByte();
        row.eventIdHash = in.readLong();
        row.eventTime = in.readLong();
        row.label = in.readByte();
        row.eventId = readString(in);
        row.impressionId = readString(in);
        int n = in.readInt();
        if (n >= 0) {
            float[] dense = new float[n];
            for (int i = 0; i < n; i++) dense[i] = in.readFloat();
            row.dense = dense;
        }
        n = in.readInt();
        if (n >= 0) {
            int[] sparse = new int[n];
            for (int i = 0; i < n; i++) sparse[i] = in.readInt();
            row.sparse = sparse;
        }
        if (in.readByte() != 0) {
            String topic = readString(in);
            int partition = in.readInt();
            long offset = in.readLong();
            row.source = new SourceRecord(topic, partition, offset, readBytes(in), readBytes(in));
        }
        return row;
    }

    /** Never fills {@code reuse}: a row may still be referenced downstream (the join keeps pending impressions in heap state). */
    @Override
    public FeatureRow deserialize(FeatureRow reuse, DataInputView in) throws IOException {
        return deserialize(in);
    }

    @Override
    public void copy(DataInputView in, DataOutputView out) throws IOException {
        serialize(deserialize(in), out);
    }

    @Override
    public TypeSerializerSnapshot<FeatureRow> snapshotConfiguration() {
        return new Snapshot();
    }

    /** The serializer has no parameters: its snapshot only names it. */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<FeatureRow> {
        public Snapshot() {
            super(() -> INSTANCE);
        }
    }
}
