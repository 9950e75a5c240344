package dev.freshet.kafka.junit;

import dev.freshet.kafka.EmbeddedKafka;
import org.apache.kafka.clients.admin.Admin;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One real in-process KRaft broker ({@link EmbeddedKafka}) per test class, started before the class's
 * first test and stopped after its last:
 *
 * <pre>{@code
 * @RegisterExtension
 * static final EmbeddedKafkaExtension kafka = new EmbeddedKafkaExtension();
 * }</pre>
 *
 * The tests of a class share the broker, so each test needs its own topic names: {@link #uniqueName(String)}
 * hands them out. {@code @Nested} classes reuse the broker of the class that registered the extension.
 * Only test code uses this class; JUnit is an optional dependency of this module.
 */
public final class EmbeddedKafkaExtension implements BeforeAllCallback, AfterAllCallback {
    private final AtomicInteger names = new AtomicInteger();
    private EmbeddedKafka broker;
    /** The class context that started the broker: a nested class's {@code afterAll} must not stop it. */
    private String owner;

    @Override
    public void beforeAll(ExtensionContext context) {
        if (broker == null) {
            broker = EmbeddedKafka.start();
            owner = context.getUniqueId();
        }
    }

    @Override
    public void afterAll(ExtensionContext context) {
        if (broker != null && context.getUniqueId().equals(owner)) {
            try {
                broker.close();
            } finally {
                broker = null;
                owner = null;
            }
        }
    }

    /** The running broker, for code that takes an {@link EmbeddedKafka}. */
    public EmbeddedKafka broker() {
        if (broker == null) {
            throw new IllegalStateException("the embedded broker is not running: EmbeddedKafkaExtension starts it before"
                    + " the class's tests only. Fix: register it on a static field with @RegisterExtension.");
        }
        return broker;
    }

    /** {@code base} followed by a number not handed out before by this extension, e.g. {@code clicks-3}. */
    public String uniqueName(String base) {
        return base + "-" + names.incrementAndGet();
    }

    /** See {@link EmbeddedKafka#bootstrapServers()}. */
    public String bootstrapServers() {
        return broker().bootstrapServers();
    }

    /** See {@link EmbeddedKafka#clientProps()}. */
    public Map<String, Object> clientProps() {
        return broker().clientProps();
    }

    /** See {@link EmbeddedKafka#admin()}. */
    public Admin admin() {
        return broker().admin();
    }

    /** See {@link EmbeddedKafka#createTopic(String, int)}. */
    public void createTopic(String name, int partitions) {
        broker().createTopic(name, partitions);
    }

    /** See {@link EmbeddedKafka#createTopic(String, int, Duration)}. */
    public void createTopic(String name, int partitions, Duration retention) {
        broker().createTopic(name, partitions, retention);
    }

    /** See {@link EmbeddedKafka#createTopic(String, int, Map)}. */
    public void createTopic(String name, int partitions, Map<String, String> configs) {
        broker().createTopic(name, partitions, configs);
    }
}
