package dev.freshet.featurestream.internal;

import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Already-encoded values to one topic, without a key. The Kafka timestamp is left to the producer (the
 * time of writing): event times travel inside the records, and a record stamped with an old event time
 * would be deleted at once by the topic's time-based retention (a replay of 2023 data on a topic with
 * 7-day retention loses everything).
 */
public final class ValueRecords implements KafkaRecordSerializationSchema<byte[]> {
    private final String topic;

    public ValueRecords(String topic) {
        this.topic = topic;
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(byte[] value, KafkaSinkContext context, Long timestamp) {
        return new ProducerRecord<>(topic, null, null, null, value);
    }
}
