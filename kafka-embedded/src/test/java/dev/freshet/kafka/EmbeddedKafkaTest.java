package dev.freshet.kafka;

import dev.freshet.config.ConfigSource;
import dev.freshet.schemas.Topics;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import dev.freshet.kafka.junit.EmbeddedKafkaExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EmbeddedKafkaTest {
    @RegisterExtension
    static final EmbeddedKafkaExtension kafka = new EmbeddedKafkaExtension();

    @Test
    void listensOnLoopback() {
        assertTrue(kafka.bootstrapServers().startsWith("127.0.0.1:"), kafka.bootstrapServers());
        assertEquals(kafka.bootstrapServers(), kafka.clientProps().get("bootstrap.servers"));
    }

    @Test
    void extensionHandsOutDistinctNamesAndOneRunningBroker() {
        String first = kafka.uniqueName("clicks");
        String second = kafka.uniqueName("clicks");
        assertTrue(first.startsWith("clicks-") && second.startsWith("clicks-"), first + ", " + second);
        assertFalse(first.equals(second), "two calls gave the same name " + first);
        assertEquals(kafka.bootstrapServers(), kafka.broker().bootstrapServers());
    }

    @Test
    void producesAndConsumes() throws Exception {
        kafka.createTopic("plain", 3);
        try (KafkaProducer<String, String> producer = producer(Map.of())) {
            for (int i = 0; i < 30; i++) {
                producer.send(new ProducerRecord<>("plain", "k" + i, "v" + i)).get(30, TimeUnit.SECONDS);
            }
        }
        List<ConsumerRecord<String, String>> got = consumeAll("plain", "read_uncommitted", 30);
        assertEquals(30, got.size());
        Set<Integer> partitions = new java.util.HashSet<>();
        for (ConsumerRecord<String, String> r : got) {
            assertEquals("v" + r.key().substring(1), r.value());
            partitions.add(r.partition());
        }
        assertEquals(3, partitions.size(), "keys should spread over all 3 partitions");
    }

    @Test
    void readCommittedSeesOnlyCommittedTransactions() throws Exception {
        kafka.createTopic("tx", 1);
        try (KafkaProducer<String, String> producer = producer(Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "tx-test"))) {
            producer.initTransactions();
            producer.beginTransaction();
            producer.send(new ProducerRecord<>("tx", "a", "aborted-1"));
            producer.send(new ProducerRecord<>("tx", "a", "aborted-2"));
            producer.flush(); // otherwise abort may drop the unsent batch and nothing aborted reaches the log
            producer.abortTransaction();
            producer.beginTransaction();
            producer.send(new ProducerRecord<>("tx", "c", "committed-1"));
            producer.send(new ProducerRecord<>("tx", "c", "committed-2"));
            producer.commitTransaction();
        }
        List<String> committed = consumeAll("tx", "read_committed", 2).stream().map(ConsumerRecord::value).toList();
        assertEquals(List.of("committed-1", "committed-2"), committed);
        // read_uncommitted also sees the aborted records (and the two commit/abort markers take offsets too).
        List<String> all = consumeAll("tx", "read_uncommitted", 4).stream().map(ConsumerRecord::value).toList();
        assertEquals(List.of("aborted-1", "aborted-2", "committed-1", "committed-2"), all);
    }

    @Test
    void createTopicWithRetentionSetsRetentionMs() throws Exception {
        kafka.createTopic("short-lived", 2, Duration.ofMinutes(10));
        assertEquals("600000", topicConfig("short-lived").get(TopicConfig.RETENTION_MS_CONFIG).value());
        assertEquals(2, kafka.admin().describeTopics(List.of("short-lived")).allTopicNames().get()
                .get("short-lived").partitions().size());
        IllegalStateException twice = assertThrows(IllegalStateException.class, () -> kafka.createTopic("short-lived", 2));
        assertTrue(twice.getMessage().contains("already exists"), twice.getMessage());
    }

    @Test
    void topicAdminCreatesEveryFreshetTopicOnce() throws Exception {
        Topics topics = Topics.withPrefix("admin-test.");
        ConfigSource source = ConfigSource.of(Map.of("topics.partitions", "3", "topics.retention", "2h"));
        TopicAdmin.Config config = TopicAdmin.Config.from(source);
        assertEquals(topics.all(), TopicAdmin.createAll(kafka.broker(), topics, config));
        var described = kafka.admin().describeTopics(topics.all()).allTopicNames().get();
        for (String name : topics.all()) {
            assertEquals(3, described.get(name).partitions().size(), name);
            assertEquals("7200000", topicConfig(name).get(TopicConfig.RETENTION_MS_CONFIG).value(), name);
        }
        assertEquals(List.of(), TopicAdmin.createAll(kafka.broker(), topics, config), "a second run creates nothing");
    }

    @Test
    void topicAdminRejectsBadSettingsNamingTheKey() {
        var e = assertThrows(RuntimeException.class,
                () -> TopicAdmin.Config.from(ConfigSource.of(Map.of("topics.partitions", "0"))));
        assertTrue(e.getMessage().contains("topics.partitions"), e.getMessage());
    }

    @Test
    void closeIsIdempotentDeletesItsTempDirAndRefusesUse(@TempDir Path tmp) throws Exception {
        Path given = tmp.resolve("kept");
        EmbeddedKafka second = EmbeddedKafka.start(given);
        second.createTopic("survives", 1);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(second.clientProps(), new StringSerializer(), new StringSerializer())) {
            producer.send(new ProducerRecord<>("survives", "k", "before restart")).get(30, TimeUnit.SECONDS);
        }
        second.close();
        second.close();
        assertThrows(IllegalStateException.class, second::bootstrapServers);
        assertTrue(Files.isRegularFile(given.resolve("meta.properties")), "a given log dir is kept");

        // Restarting on the same directory keeps the data.
        try (EmbeddedKafka restarted = EmbeddedKafka.start(given)) {
            Map<String, Object> props = restarted.clientProps();
            props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props, new StringDeserializer(), new StringDeserializer())) {
                TopicPartition tp = new TopicPartition("survives", 0);
                consumer.assign(List.of(tp));
                consumer.seekToBeginning(List.of(tp));
                List<String> values = new ArrayList<>();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (values.isEmpty() && System.nanoTime() < deadline) {
                    consumer.poll(Duration.ofMillis(200)).forEach(r -> values.add(r.value()));
                }
                assertEquals(List.of("before restart"), values);
            }
        }

        EmbeddedKafka temp = EmbeddedKafka.start();
        Path dir = temp.logDir();
        assertTrue(Files.isDirectory(dir));
        temp.close();
        assertFalse(Files.exists(dir), "a temp log dir is deleted on close");
    }

    private static Config topicConfig(String topic) throws Exception {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        return kafka.admin().describeConfigs(List.of(resource)).all().get().get(resource);
    }

    private static KafkaProducer<String, String> producer(Map<String, Object> extra) {
        Map<String, Object> props = kafka.clientProps();
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        props.putAll(extra);
        return new KafkaProducer<>(props, new StringSerializer(), new StringSerializer());
    }

    private static List<ConsumerRecord<String, String>> consumeAll(String topic, String isolation, int expected) {
        Map<String, Object> props = kafka.clientProps();
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, topic + "-" + isolation);
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        List<ConsumerRecord<String, String>> got = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props, new StringDeserializer(), new StringDeserializer())) {
            consumer.subscribe(List.of(topic));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (got.size() < expected && System.nanoTime() < deadline) {
                consumer.poll(Duration.ofMillis(200)).forEach(got::add);
            }
            // One more short poll: more records than expected would be a bug we want to see.
            consumer.poll(Duration.ofMillis(300)).forEach(got::add);
        }
        return got;
    }
}
