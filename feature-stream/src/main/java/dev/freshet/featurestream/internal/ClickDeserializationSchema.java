package dev.freshet.featurestream.internal;

import dev.freshet.features.FeatureLayout;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.types.Either;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * The Kafka source's view of {@code clicks}: each record becomes a {@link FeatureRow} or a
 * {@link DeadLetter}; a bad record never fails the source (after Kafka Streams'
 * DeserializationExceptionHandler). Decoding here, rather than in a later operator, lets the source
 * assign event times and watermarks per Kafka partition.
 */
public final class ClickDeserializationSchema implements KafkaRecordDeserializationSchema<Either<FeatureRow, DeadLetter>> {
    private final SerializableLayout layout;
    private transient ClickDecoder decoder;

    public ClickDeserializationSchema(FeatureLayout layout) {
        this.layout = SerializableLayout.of(layout);
    }

    @Override
    public void open(DeserializationSchema.InitializationContext context) {
        decoder = new ClickDecoder(layout.layout());
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<Either<FeatureRow, DeadLetter>> out) {
        if (decoder == null) {
            decoder = new ClickDecoder(layout.layout());
        }
        out.collect(decoder.decode(record.key(), record.value(), record.topic(), record.partition(), record.offset()));
    }

    @Override
    public TypeInformation<Either<FeatureRow, DeadLetter>> getProducedType() {
        return RecordTypes.DECODED;
    }

    @Override
    public String toString() {
        return "ClickDeserializationSchema{" + layout.spec() + "}";
    }
}
