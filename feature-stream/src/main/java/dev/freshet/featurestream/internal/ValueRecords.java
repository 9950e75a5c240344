package dev.freshet.featurestream.internal;

import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;

/** Already-encoded values to one topic, without a key, timestamped with the stream record's event time. */
public final class ValueRecords implements KafkaRecordSerializationSchema<byte[]> {
    private final String topic;

    public ValueRecords(String topic) {
        this.topic = topic;
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(byte[] value, KafkaSinkContext context, Long timestamp) {
        Long ts = timestamp == null || timestamp < 0 ? null : timestamp;
        return new ProducerRecord<>(topic, null, ts, null, value);
    }
}
