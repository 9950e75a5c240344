package dev.freshet.ingest;

import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.EventKind;
import dev.freshet.schemas.serde.AvroCodec;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Produces {@link ClickEvent}s to the clicks topic: idempotent, {@code acks=all}, batched and compressed,
 * asynchronous. Memory for unacknowledged events is bounded by {@code ingest.buffer-bytes}; when it is
 * full, {@link #send} blocks (up to {@code ingest.max-block}), which is the back-pressure a fast reader
 * needs. Idempotence makes producer retries safe: the broker drops the duplicates a retry would write.
 *
 * <p>Events are keyed so that an impression and its click land in the same partition (the feature
 * job joins them there): a CLICK is keyed by its {@code impressionId}, every other event by its
 * {@code eventId}. Thread-safe.
 */
public final class ClickProducer implements AutoCloseable {
    private final Producer<byte[], byte[]> producer;
    private final ThreadLocal<AvroCodec<ClickEvent>> codecs = ThreadLocal.withInitial(() -> new AvroCodec<>(ClickEvent.class));
    private final String topic;
    private final AtomicLong sent = new AtomicLong();
    private final AtomicLong acked = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final AtomicReference<Exception> firstError = new AtomicReference<>();
    private volatile boolean closed;

    ClickProducer(Producer<byte[], byte[]> producer, String topic) {
        this.producer = Objects.requireNonNull(producer, "producer");
        this.topic = Objects.requireNonNull(topic, "topic");
    }

    public static ClickProducer create(IngestConfig config) {
        Objects.requireNonNull(config, "config");
        return new ClickProducer(new KafkaProducer<>(producerProps(config), new ByteArraySerializer(), new ByteArraySerializer()),
                config.topics().clicks());
    }

    /** The producer settings derived from {@code config}; the ingest benchmark's bare producer uses the same ones. */
    public static Map<String, Object> producerProps(IngestConfig config) {
        Map<String, Object> p = new HashMap<>();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "freshet-ingest");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        // Five in-flight requests is the most idempotence allows while keeping per-partition order.
        p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 5);
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, config.batchBytes());
        p.put(ProducerConfig.LINGER_MS_CONFIG, (int) Math.min(Integer.MAX_VALUE, config.linger().toMillis()));
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, config.compression().name().toLowerCase(Locale.ROOT));
        p.put(ProducerConfig.BUFFER_MEMORY_CONFIG, config.bufferBytes());
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, config.maxBlock().toMillis());
        return p;
    }

    /** The record key of {@code event}: its impression id for clicks, else its event id. */
    public static String keyOf(ClickEvent event) {
        return event.getKind() == EventKind.CLICK && event.getImpressionId() != null ? event.getImpressionId() : event.getEventId();
    }

    /**
     * Sends {@code event} asynchronously; the future completes when the broker has it (all in-sync
     * replicas) or fails. Blocks only while the send buffer is full.
     */
    public CompletableFuture<RecordMetadata> send(ClickEvent event) {
        CompletableFuture<RecordMetadata> result = new CompletableFuture<>();
        send(event, (metadata, error) -> {
            if (error == null) {
                result.complete(metadata);
            } else {
                result.completeExceptionally(error);
            }
        });
        return result;
    }

    /** Sends {@code event} asynchronously and calls {@code callback} (on the producer's I/O thread, keep it short). */
    public void send(ClickEvent event, Callback callback) {
        Objects.requireNonNull(event, "event");
        byte[] value;
        try {
            value = codecs.get().encode(event);
        } catch (RuntimeException e) {
            failed.incrementAndGet();
            firstError.compareAndSet(null, e);
            Objects.requireNonNull(callback, "callback").onCompletion(null, e);
            return;
        }
        sendEncoded(keyOf(event).getBytes(StandardCharsets.UTF_8), value, callback);
    }

    /**
     * Sends an event already encoded as {@code AvroCodec<ClickEvent>} bytes with its UTF-8 key (see
     * {@link ParsedLine.Encoded}); the replay's fast path.
     */
    public void sendEncoded(byte[] key, byte[] value, Callback callback) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(value, "value");
        Objects.requireNonNull(callback, "callback");
        if (closed) {
            throw new IllegalStateException("click producer for topic " + topic + " is closed");
        }
        sent.incrementAndGet();
        try {
            producer.send(new ProducerRecord<>(topic, key, value), (metadata, error) -> {
                if (error == null) {
                    acked.incrementAndGet();
                } else {
                    failed.incrementAndGet();
                    firstError.compareAndSet(null, error);
                }
                callback.onCompletion(metadata, error);
            });
        } catch (RuntimeException e) {
            // Thrown before the record entered the buffer (buffer timeout, record too large): count it like a failed ack.
            failed.incrementAndGet();
            firstError.compareAndSet(null, e);
            callback.onCompletion(null, e);
        }
    }

    /** Blocks until every event sent so far is acknowledged or failed. */
    public void flush() {
        producer.flush();
    }

    public String topic() {
        return topic;
    }

    /** Events handed to {@link #send}. */
    public long sent() {
        return sent.get();
    }

    /** Events the broker acknowledged. */
    public long acked() {
        return acked.get();
    }

    /** Events that failed after the producer's retries. */
    public long failed() {
        return failed.get();
    }

    /** The first send failure, or null. */
    public Exception firstError() {
        return firstError.get();
    }

    /** Flushes what is buffered, then releases the connection; idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        producer.close(Duration.ofSeconds(60));
    }
}
