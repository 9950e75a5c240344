package dev.freshet.featurestream.internal;

import dev.freshet.schemas.Topics;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;

import java.nio.charset.StandardCharsets;

/**
 * Dead letters to {@code features.dlq}: the original key and value (where the job has them), with
 * the reason and the source position in the {@link Topics} headers, as the ingest topology writes
 * {@code clicks.dlq}. A category header lets a consumer group failures without parsing reasons.
 */
public final class DeadLetterRecords implements KafkaRecordSerializationSchema<DeadLetter> {
    public static final String HEADER_CATEGORY = "freshet.dlq.category";

    private final String topic;

    public DeadLetterRecords(String topic) {
        this.topic = topic;
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(DeadLetter letter, KafkaSinkContext context, Long timestamp) {
        RecordHeaders headers = new RecordHeaders();
        headers.add(Topics.HEADER_REASON, utf8(letter.reason));
        headers.add(HEADER_CATEGORY, utf8(letter.category));
        if (letter.sourceTopic != null) {
            headers.add(Topics.HEADER_SOURCE_TOPIC, utf8(letter.sourceTopic));
            headers.add(Topics.HEADER_SOURCE_PARTITION, utf8(Integer.toString(letter.sourcePartition)));
            headers.add(Topics.HEADER_SOURCE_OFFSET, utf8(Long.toString(letter.sourceOffset)));
        }
        return new ProducerRecord<>(topic, null, null, letter.key, letter.value, headers);
    }

    private static byte[] utf8(String s) {
        return (s == null ? "" : s).getBytes(StandardCharsets.UTF_8);
    }
}
