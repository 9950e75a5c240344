package dev.freshet.ingest;

import dev.freshet.features.FeatureLayout;
import dev.freshet.ingest.internal.JsonClickParser;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.Topics;
import dev.freshet.schemas.serde.KafkaAvroSerde;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;

import java.nio.charset.StandardCharsets;
import java.util.Objects;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A Kafka Streams topology that reads JSON click events from {@code clicks.json}, validates them against
 * the feature layout ({@link JsonClickParser} says what is accepted) and writes Avro {@link ClickEvent}s
 * to {@code clicks}. Every record it cannot accept goes, unchanged, to {@code clicks.dlq} with headers
 * {@link Topics#HEADER_REASON}, {@link Topics#HEADER_SOURCE_TOPIC}, {@link Topics#HEADER_SOURCE_PARTITION}
 * and {@link Topics#HEADER_SOURCE_OFFSET}, and is counted; the records around it go on (after Kafka
 * Streams' own {@code DeserializationExceptionHandler} idea, but for content, not just bytes).
 *
 * <p>Runs with {@code exactly_once_v2}: a record's converted event or dead letter is committed in the
 * same transaction as its input offset, so neither is lost or duplicated across restarts.
 */
public final class JsonClickTopology {
    static final String SOURCE = "clicks-json-source";
    static final String VALIDATE = "validate-json-click";
    static final String CLICKS_SINK = "clicks-sink";
    static final String DLQ_SINK = "clicks-dlq-sink";

    /** Counts of this instance's records; read them from any thread. */
    public static final class Stats {
        private final AtomicLong accepted = new AtomicLong();
        private final AtomicLong rejected = new AtomicLong();
        private final AtomicReference<String> lastReason = new AtomicReference<>();

        public long accepted() {
            return accepted.get();
        }

        public long rejected() {
            return rejected.get();
        }

        /** The most recent reject reason, or null. */
        public String lastReason() {
            return lastReason.get();
        }
    }

    private JsonClickTopology() {
    }

    public static Topology build(Topics topics, FeatureLayout layout, int maxRecordBytes, Stats stats) {
        Objects.requireNonNull(topics, "topics");
        Objects.requireNonNull(layout, "layout");
        Objects.requireNonNull(stats, "stats");
        Topology topology = new Topology();
        topology.addSource(SOURCE, new ByteArrayDeserializer(), new ByteArrayDeserializer(), topics.clicksJson());
        topology.addProcessor(VALIDATE, () -> new Validate(new JsonClickParser(layout, maxRecordBytes), stats), SOURCE);
        topology.addSink(CLICKS_SINK, topics.clicks(), new StringSerializer(), KafkaAvroSerde.of(ClickEvent.class), VALIDATE);
        topology.addSink(DLQ_SINK, topics.clicksDlq(), new ByteArraySerializer(), new ByteArraySerializer(), VALIDATE);
        return topology;
    }

    public static Topology build(JsonIngestConfig config, FeatureLayout layout, Stats stats) {
        return build(config.topics(), layout, config.maxRecordBytes(), stats);
    }

    /** Streams settings: exactly_once_v2, state under the work directory, the configured threads and commit interval. */
    public static Properties streamsProperties(JsonIngestConfig config) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, config.applicationId());
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.STATE_DIR_CONFIG, config.stateDir().toAbsolutePath().toString());
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, config.threads());
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, config.commitInterval().toMillis());
        return p;
    }

    /** Routes each record to clicks or, with the reason and source position in headers, to the dead-letter topic. */
    private static final class Validate implements Processor<byte[], byte[], Object, Object> {
        private final JsonClickParser parser;
        private final Stats stats;
        private ProcessorContext<Object, Object> context;

        Validate(JsonClickParser parser, Stats stats) {
            this.parser = parser;
            this.stats = stats;
        }

        @Override
        public void init(ProcessorContext<Object, Object> context) {
            this.context = context;
        }

        @Override
        public void process(Record<byte[], byte[]> record) {
            JsonClickParser.Outcome outcome = parser.parse(record.value());
            if (outcome.event() != null) {
                ClickEvent event = outcome.event();
                context.forward(new Record<Object, Object>(ClickProducer.keyOf(event), event, record.timestamp(), record.headers()), CLICKS_SINK);
                stats.accepted.incrementAndGet();
                return;
            }
            RecordHeaders headers = new RecordHeaders(record.headers().toArray());
            headers.add(Topics.HEADER_REASON, utf8(outcome.reason()));
            Optional<RecordMetadata> source = context.recordMetadata();
            source.ifPresent(m -> {
                headers.add(Topics.HEADER_SOURCE_TOPIC, utf8(m.topic()));
                headers.add(Topics.HEADER_SOURCE_PARTITION, utf8(Integer.toString(m.partition())));
                headers.add(Topics.HEADER_SOURCE_OFFSET, utf8(Long.toString(m.offset())));
            });
            context.forward(new Record<Object, Object>(record.key(), record.value(), record.timestamp(), headers), DLQ_SINK);
            stats.rejected.incrementAndGet();
            stats.lastReason.set(outcome.reason());
        }

        private static byte[] utf8(String s) {
            return s.getBytes(StandardCharsets.UTF_8);
        }
    }
}
