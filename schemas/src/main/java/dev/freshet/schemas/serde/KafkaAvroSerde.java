package dev.freshet.schemas.serde;

import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

import java.util.Objects;

/**
 * Kafka serializer and deserializer for a Freshet record type: one {@link AvroCodec} per thread, so it
 * can be shared by a producer's callers and a Streams topology's threads.
 */
public final class KafkaAvroSerde<T extends SpecificRecord> implements Serde<T>, Serializer<T>, Deserializer<T> {
    private final ThreadLocal<AvroCodec<T>> codecs;

    public KafkaAvroSerde(Class<T> type) {
        Objects.requireNonNull(type, "type");
        this.codecs = ThreadLocal.withInitial(() -> new AvroCodec<>(type));
    }

    public static <T extends SpecificRecord> KafkaAvroSerde<T> of(Class<T> type) {
        return new KafkaAvroSerde<>(type);
    }

    @Override
    public byte[] serialize(String topic, T data) {
        return data == null ? null : codecs.get().encode(data);
    }

    @Override
    public T deserialize(String topic, byte[] data) {
        return data == null ? null : codecs.get().decode(data);
    }

    @Override
    public Serializer<T> serializer() {
        return this;
    }

    @Override
    public Deserializer<T> deserializer() {
        return this;
    }

    @Override
    public void configure(java.util.Map<String, ?> configs, boolean isKey) {
    }

    @Override
    public void close() {
    }
}
