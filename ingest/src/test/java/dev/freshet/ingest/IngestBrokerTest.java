package dev.freshet.ingest;

import dev.freshet.config.CommandLine;
import dev.freshet.config.ConfigSource;
import dev.freshet.features.FeatureLayout;
import dev.freshet.kafka.junit.EmbeddedKafkaExtension;
import dev.freshet.kafka.TopicAdmin;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.EventKind;
import dev.freshet.schemas.Topics;
import dev.freshet.schemas.serde.KafkaAvroSerde;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Ingest against a real in-process KRaft broker: one broker for the class, own topic names per test. */
class IngestBrokerTest {
    private static final Instant START = Instant.parse("2024-03-01T00:00:00Z");
    @RegisterExtension
    static final EmbeddedKafkaExtension kafka = new EmbeddedKafkaExtension();

    @TempDir
    Path tmp;

    @Test
    void replayOfTheCriteoSampleReturnsEveryEventUnchanged() throws Exception {
        Path sample = SampleData.criteoSample();
        Topics topics = Topics.withPrefix("replay.");
        kafka.createTopic(topics.clicks(), 3);
        Output output = new Output();
        int exit = run(new ReplayCommand(output.out, output.err, Clock.systemUTC(), ClickProducer::create, false),
                "--bootstrap-servers", kafka.bootstrapServers(), "--set", "topics.prefix=replay.", "--event-time", "sequence",
                "--set", "ingest.event-time-start=" + START, sample.toString());
        assertEquals(0, exit, output.text());
        assertTrue(output.stdout().contains("replayed 10,109 events from 1 file to replay.clicks"), output.stdout());
        assertTrue(output.stdout().contains("10,109 acknowledged); 0 lines rejected"), output.stdout());
        assertTrue(output.stderr().contains("replay: 10,109 events"), "final progress line: " + output.stderr());

        Map<String, ClickEvent> expected = new HashMap<>();
        long positives = 0;
        try (TsvClickReader reader = TsvClickReader.open(sample, FeatureLayout.criteo(100_000),
                EventTimeSource.sequence(START, Duration.ofMillis(1)))) {
            for (ParsedLine p; (p = reader.next()) != null; ) {
                ClickEvent e = ((ParsedLine.Accepted) p).event();
                expected.put(e.getEventId(), e);
                positives += e.getLabel();
            }
        }
        assertEquals(SampleData.POSITIVES, positives);
        List<ConsumerRecord<String, ClickEvent>> got = consume(topics.clicks(), new StringDeserializer(),
                KafkaAvroSerde.of(ClickEvent.class), SampleData.ROWS);
        assertEquals(SampleData.ROWS, got.size());
        Map<String, ClickEvent> byId = new HashMap<>();
        for (ConsumerRecord<String, ClickEvent> r : got) {
            assertEquals(r.value().getEventId(), r.key());
            byId.put(r.key(), r.value());
        }
        assertEquals(expected, byId, "every event arrives once and unchanged");
    }

    @Test
    void replayWithBadLinesExitsThreeReportsReasonsAndSendsTheRest() throws Exception {
        Path sample = SampleData.criteoSample();
        List<String> lines = new ArrayList<>(Files.readAllLines(sample).subList(0, 50));
        lines.set(10, lines.get(10) + "\tx");
        lines.set(20, "");
        lines.set(30, lines.get(30).replaceFirst("\t", "\t1.5e3").replaceFirst("^", ""));
        Path file = tmp.resolve("bad.tsv");
        Files.write(file, lines);
        kafka.createTopic("bad.clicks", 1);
        Output output = new Output();
        int exit = run(new ReplayCommand(output.out, output.err, Clock.systemUTC(), ClickProducer::create, false),
                "--bootstrap-servers", kafka.bootstrapServers(), "--set", "topics.prefix=bad.", "--set", "ingest.reasons-shown=2", file.toString());
        assertEquals(3, exit, output.text());
        assertTrue(output.stdout().contains("replayed 47 events"), output.stdout());
        assertTrue(output.stdout().contains("3 lines rejected"), output.stdout());
        assertTrue(output.stdout().contains("first 2 reject reasons:\n  bad.tsv:11: 41 columns, layout criteo has 40"), output.stdout());
        assertTrue(output.stdout().contains("  bad.tsv:21: empty line"), output.stdout());
        List<String> ids = consume("bad.clicks", new StringDeserializer(), KafkaAvroSerde.of(ClickEvent.class), 47)
                .stream().map(ConsumerRecord::key).toList();
        assertEquals(47, ids.size());
        assertTrue(ids.contains("bad.tsv:10") && ids.contains("bad.tsv:12") && ids.contains("bad.tsv:50") && !ids.contains("bad.tsv:11"), ids.toString());
    }

    @Test
    void syntheticCommandProducesTheLibrarysEventsAndPrintsTheBestAuc() throws Exception {
        kafka.createTopic("syn.clicks", 2);
        Output output = new Output();
        int exit = run(new SyntheticCommand(output.out, output.err, Clock.systemUTC(), ClickProducer::create, false),
                "--bootstrap-servers", kafka.bootstrapServers(), "--set", "topics.prefix=syn.", "--events", "3000", "--seed", "5",
                "--set", "ingest.event-time=sequence", "--set", "ingest.event-time-start=" + START.toEpochMilli());
        assertEquals(0, exit, output.text());
        SyntheticClicks library = new SyntheticClicks(SyntheticConfig.defaults().withSeed(5).withEvents(3000), FeatureLayout.criteo(100_000),
                EventTimeSource.sequence(START, Duration.ofMillis(1)));
        Map<String, ClickEvent> expected = new HashMap<>();
        for (int i = 0; i < 3000; i++) {
            ClickEvent e = library.next();
            expected.put(e.getEventId(), e);
        }
        assertTrue(output.stdout().contains(String.format("best achievable AUC (true click probabilities): %.4f", library.bestAuc())), output.stdout());
        Map<String, ClickEvent> got = new HashMap<>();
        consume("syn.clicks", new StringDeserializer(), KafkaAvroSerde.of(ClickEvent.class), 3000).forEach(r -> got.put(r.key(), r.value()));
        assertEquals(expected, got);
    }

    @Test
    void producerFuturesCompleteAndAClickSharesItsImpressionsPartition() throws Exception {
        kafka.createTopic("keys.clicks", 8);
        IngestConfig config = IngestConfig.defaults(kafka.bootstrapServers()).withTopics(Topics.withPrefix("keys."));
        try (ClickProducer producer = ClickProducer.create(config)) {
            for (int i = 0; i < 20; i++) {
                ClickEvent impression = event("imp-" + i, EventKind.IMPRESSION, null);
                ClickEvent click = event("click-" + i, EventKind.CLICK, "imp-" + i);
                RecordMetadata a = producer.send(impression).get(30, TimeUnit.SECONDS);
                RecordMetadata b = producer.send(click).get(30, TimeUnit.SECONDS);
                assertEquals(a.partition(), b.partition(), "pair " + i);
            }
            assertEquals(40, producer.acked());
            assertEquals(0, producer.failed());
        }
    }

    @Test
    void jsonTopologyOnTheRealBrokerConvertsGoodRecordsAndDeadLettersBadOnes() throws Exception {
        Topics topics = Topics.withPrefix("json.");
        TopicAdmin.createAll(kafka.broker(), topics, TopicAdmin.Config.from(ConfigSource.of(Map.of("topics.partitions", "1"))));
        List<String[]> bad = JsonClickTopologyTest.BAD;
        int good = 0;
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(kafka.clientProps(), new StringSerializer(), new StringSerializer())) {
            for (String[] b : bad) {
                producer.send(new ProducerRecord<>(topics.clicksJson(), "{\"eventId\":\"g" + good + "\",\"eventTime\":" + good
                        + ",\"label\":" + (good % 2) + ",\"dense\":{\"I1\":" + good + "},\"categorical\":{\"C2\":\"v" + good + "\"}}"));
                good++;
                producer.send(new ProducerRecord<>(topics.clicksJson(), b[0]));
            }
        }
        JsonIngestConfig config = JsonIngestConfig.from(ConfigSource.of(Map.of("kafka.bootstrap-servers", kafka.bootstrapServers(),
                "topics.prefix", "json.", "freshet.work-dir", tmp.toString(), "ingest.json.application-id", "json-it", "ingest.json.max-record-bytes", "4096")));
        JsonClickTopology.Stats stats = new JsonClickTopology.Stats();
        try (KafkaStreams streams = new KafkaStreams(JsonClickTopology.build(config, FeatureLayout.criteo(100), stats),
                JsonClickTopology.streamsProperties(config))) {
            streams.start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (stats.accepted() + stats.rejected() < good + bad.size() && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertEquals(good, stats.accepted());
            assertEquals(bad.size(), stats.rejected());
            List<ConsumerRecord<String, ClickEvent>> clicks = consume(topics.clicks(), new StringDeserializer(), KafkaAvroSerde.of(ClickEvent.class), good);
            assertEquals(good, clicks.size());
            for (int i = 0; i < good; i++) {
                ClickEvent e = clicks.get(i).value();
                assertEquals("g" + i, e.getEventId());
                assertEquals(i % 2, e.getLabel());
                assertEquals((double) i, e.getDense().get(0));
                assertEquals("v" + i, e.getCategorical().get(1));
            }
            List<ConsumerRecord<byte[], byte[]>> dead = consume(topics.clicksDlq(), new ByteArrayDeserializer(), new ByteArrayDeserializer(), bad.size());
            assertEquals(bad.size(), dead.size());
            for (int i = 0; i < bad.size(); i++) {
                ConsumerRecord<byte[], byte[]> r = dead.get(i);
                assertEquals(bad.get(i)[0], new String(r.value(), StandardCharsets.UTF_8));
                String reason = JsonClickTopologyTest.header(r.headers(), Topics.HEADER_REASON);
                assertTrue(reason.startsWith(bad.get(i)[1]), reason);
                assertEquals(topics.clicksJson(), JsonClickTopologyTest.header(r.headers(), Topics.HEADER_SOURCE_TOPIC));
                assertEquals("0", JsonClickTopologyTest.header(r.headers(), Topics.HEADER_SOURCE_PARTITION));
                assertEquals(Integer.toString(2 * i + 1), JsonClickTopologyTest.header(r.headers(), Topics.HEADER_SOURCE_OFFSET));
            }
        }
        assertEquals(tmp.resolve("streams").toAbsolutePath().toString(),
                JsonClickTopology.streamsProperties(config).get("state.dir"), "Streams state lives under the work directory");
        assertEquals("exactly_once_v2", JsonClickTopology.streamsProperties(config).get("processing.guarantee"));
    }

    @Test
    void jsonCommandRunsForTheGivenTimeAndReportsCounts() throws Exception {
        Topics topics = Topics.withPrefix("jsoncmd.");
        TopicAdmin.createAll(kafka.broker(), topics, TopicAdmin.Config.from(ConfigSource.of(Map.of("topics.partitions", "2"))));
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(kafka.clientProps(), new StringSerializer(), new StringSerializer())) {
            producer.send(new ProducerRecord<>(topics.clicksJson(), "{\"eventId\":\"a\",\"eventTime\":1,\"label\":1}"));
            producer.send(new ProducerRecord<>(topics.clicksJson(), "{\"eventId\":\"b\",\"eventTime\":2,\"label\":0}"));
            producer.send(new ProducerRecord<>(topics.clicksJson(), "not json"));
        }
        Output output = new Output();
        int exit = run(new JsonIngestCommand(output.out, output.err, false), "--bootstrap-servers", kafka.bootstrapServers(),
                "--set", "topics.prefix=jsoncmd.", "--work-dir", tmp.toString(), "--set", "ingest.json.application-id=jsoncmd",
                "--run-for", "15s");
        assertEquals(0, exit, output.text());
        assertTrue(output.stdout().contains("converted 2 JSON click events to jsoncmd.clicks; 1 rejected to jsoncmd.clicks.dlq"), output.text());
        assertEquals(2, consume(topics.clicks(), new StringDeserializer(), KafkaAvroSerde.of(ClickEvent.class), 2).size());
    }

    private static ClickEvent event(String id, EventKind kind, String impressionId) {
        return ClickEvent.newBuilder().setEventId(id).setEventTime(START).setKind(kind).setImpressionId(impressionId)
                .setLabel(null).setLayoutId(1).setDense(List.of(1.0)).setCategorical(List.of("a")).build();
    }

    private static int run(dev.freshet.config.Command command, String... args) throws Exception {
        return command.run(CommandLine.parse(args, command.settings(), command.aliases(), Map.of()));
    }

    /** Reads {@code expected} records from the start of {@code topic} (read_committed), then one more short poll to catch extras. */
    private static <K, V> List<ConsumerRecord<K, V>> consume(String topic, Deserializer<K> keys, Deserializer<V> values, int expected) {
        Map<String, Object> props = kafka.clientProps();
        props.put(ConsumerConfig.GROUP_ID_CONFIG, "test-" + topic);
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        List<ConsumerRecord<K, V>> out = new ArrayList<>();
        try (KafkaConsumer<K, V> consumer = new KafkaConsumer<>(props, keys, values)) {
            consumer.subscribe(List.of(topic));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (out.size() < expected && System.nanoTime() < deadline) {
                consumer.poll(Duration.ofMillis(200)).forEach(out::add);
            }
            consumer.poll(Duration.ofMillis(200)).forEach(out::add);
        }
        return out;
    }

    private static final class Output {
        final ByteArrayOutputStream outBytes = new ByteArrayOutputStream();
        final ByteArrayOutputStream errBytes = new ByteArrayOutputStream();
        final PrintStream out = new PrintStream(outBytes, true, StandardCharsets.UTF_8);
        final PrintStream err = new PrintStream(errBytes, true, StandardCharsets.UTF_8);

        String stdout() {
            return outBytes.toString(StandardCharsets.UTF_8);
        }

        String stderr() {
            return errBytes.toString(StandardCharsets.UTF_8);
        }

        String text() {
            return "stdout:\n" + stdout() + "\nstderr:\n" + stderr();
        }
    }
}
