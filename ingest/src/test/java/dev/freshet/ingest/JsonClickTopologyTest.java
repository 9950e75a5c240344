package dev.freshet.ingest;

import dev.freshet.features.FeatureLayout;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.EventKind;
import dev.freshet.schemas.Topics;
import dev.freshet.schemas.serde.KafkaAvroSerde;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Properties;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The JSON topology without a broker: every accepted shape and every kind of bad record, in one stream. */
class JsonClickTopologyTest {
    private static final FeatureLayout CRITEO = FeatureLayout.criteo(1000);
    private static final Topics TOPICS = Topics.withPrefix("t.");
    private static final int MAX_BYTES = 4096;
    /** Valid JSON, but larger than the limit: the size check comes before parsing. */
    private static final String OVERSIZED = "{\"eventId\":\"a\",\"eventTime\":1,\"label\":1,\"categorical\":{\"C1\":\"" + "x".repeat(MAX_BYTES) + "\"}}";

    /** Bad records and the start of the reason each must give. */
    static final List<String[]> BAD = List.of(
            new String[]{"this is not json", "not JSON: "},
            new String[]{"{\"eventId\": \"x\", ", "not JSON: "},
            new String[]{"{\"eventId\":\"a\",\"eventId\":\"b\",\"eventTime\":1,\"label\":1}", "not JSON: Duplicate field 'eventId'"},
            new String[]{"{\"eventId\":\"a\",\"eventTime\":1,\"label\":1} {}", "not JSON: "},
            new String[]{"[1, 2]", "not a JSON object: the record is a array"},
            new String[]{"{\"eventTime\":1,\"label\":1}", "eventId is missing"},
            new String[]{"{\"eventId\":\"a\",\"label\":1}", "eventTime is missing"},
            new String[]{"{\"eventId\":\"a\",\"eventTime\":1,\"kind\":\"LABELED\"}", "label is missing; a LABELED event needs label 0 or 1"},
            new String[]{"{\"eventId\":7,\"eventTime\":1,\"label\":1}", "eventId must be a string, got number 7"},
            new String[]{"{\"eventId\":\"a\",\"eventTime\":\"soon\",\"label\":1}", "eventTime = \"soon\" is not an ISO-8601 instant"},
            new String[]{"{\"eventId\":\"a\",\"eventTime\":1.5,\"label\":1}", "eventTime must be epoch milliseconds (an integer) or an ISO-8601 string, got number 1.5"},
            new String[]{"{\"eventId\":\"a\",\"eventTime\":1,\"label\":\"1\"}", "label must be 0 or 1, got \"1\""},
            new String[]{"{\"eventId\":\"a\",\"eventTime\":1,\"label\":2}", "label must be 0 or 1, got 2"},
            new String[]{"{\"eventId\":\"a\",\"eventTime\":1,\"label\":1,\"dense\":{\"I1\":\"3\"}}", "dense.I1 must be a number or null, got string \"3\""},
            new String[]{"{\"eventId\":\"a\",\"eventTime\":1,\"label\":1,\"dense\":{\"I1\":NaN}}", "dense.I1 = NaN is not finite"},
            new String[]{"{\"eventId\":\"a\",\"eventTime\":1,\"label\":1,\"dense\":{\"I2\":-Infinity}}", "dense.I2 = -Infinity is not finite"},
            new String[]{"{\"eventId\":\"a\",\"eventTime\":1,\"label\":1,\"dense\":{\"I2\":1e999}}", "dense.I2 = "},
            new String[]{"{\"eventId\":\"a\",\"eventTime\":1,\"label\":1,\"dense\":{\"I3\":2.5}}", "dense.I3 = 2.5 is not an integer (it is a count column)"},
            new String[]{"{\"eventId\":\"a\",\"eventTime\":1,\"label\":1,\"dense\":{\"I4\":123456789012345678901234}}", "dense.I4 = 123456789012345678901234 overflows a 64-bit integer"},
            new String[]{"{\"eventId\":\"a\",\"eventTime\":1,\"label\":1,\"dense\":{\"I99\":1}}", "unknown dense feature 'I99'"},
            new String[]{"{\"eventId\":\"a\",\"eventTime\":1,\"label\":1,\"categorical\":{\"C27\":\"x\"}}", "unknown categorical feature 'C27'"},
            new String[]{"{\"eventId\":\"a\",\"eventTime\":1,\"label\":1,\"categorical\":{\"C1\":5}}", "categorical.C1 must be a string or null, got number 5"},
            new String[]{"{\"eventId\":\"a\",\"eventTime\":1,\"label\":1,\"categorical\":[\"x\"]}", "categorical must be an object"},
            new String[]{"{\"eventId\":\"a\",\"eventTime\":1,\"label\":1,\"extra\":true}", "unknown field 'extra'"},
            new String[]{"{\"eventId\":\"a\",\"eventTime\":1,\"kind\":\"VIEW\"}", "kind = \"VIEW\" is not LABELED, IMPRESSION or CLICK"},
            new String[]{"{\"eventId\":\"a\",\"eventTime\":1,\"kind\":\"CLICK\"}", "impressionId is missing; a CLICK must name the impression"},
            new String[]{"{\"eventId\":\"a\",\"eventTime\":1,\"kind\":\"IMPRESSION\",\"label\":0}", "an IMPRESSION carries no label"},
            new String[]{OVERSIZED, "oversized record: " + OVERSIZED.length() + " bytes, limit " + MAX_BYTES + " (ingest.json.max-record-bytes)"});

    private TopologyTestDriver driver;
    private TestInputTopic<byte[], byte[]> input;
    private TestOutputTopic<String, ClickEvent> clicks;
    private TestOutputTopic<byte[], byte[]> dlq;
    private JsonClickTopology.Stats stats;

    @TempDir
    Path work;

    @BeforeEach
    void start() {
        stats = new JsonClickTopology.Stats();
        Properties props = JsonClickTopology.streamsProperties(new JsonIngestConfig("127.0.0.1:1", TOPICS, "json-test", MAX_BYTES, 1,
                java.time.Duration.ofMillis(100), work));
        driver = new TopologyTestDriver(JsonClickTopology.build(TOPICS, CRITEO, MAX_BYTES, stats), props);
        input = driver.createInputTopic(TOPICS.clicksJson(), new ByteArraySerializer(), new ByteArraySerializer());
        clicks = driver.createOutputTopic(TOPICS.clicks(), new StringDeserializer(), KafkaAvroSerde.of(ClickEvent.class));
        dlq = driver.createOutputTopic(TOPICS.clicksDlq(), new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    @AfterEach
    void stop() {
        driver.close();
    }

    @Test
    void convertsEveryAcceptedShape() {
        pipe("{\"eventId\":\"e1\",\"eventTime\":1700000000000,\"kind\":\"LABELED\",\"label\":1,"
                + "\"dense\":{\"I1\":3,\"I13\":-1,\"I2\":null},\"categorical\":{\"C1\":\"68fd1e64\",\"C26\":\"anything at all\",\"C2\":null}}");
        pipe("{\"eventId\":\"e2\",\"eventTime\":\"2024-02-29T12:00:00Z\",\"kind\":\"impression\"}");
        pipe("{\"eventId\":\"e3\",\"eventTime\":5,\"kind\":\"CLICK\",\"impressionId\":\"e2\",\"dense\":{\"I5\":4.0}}");
        pipe("{\"eventId\":\"e4\",\"eventTime\":6,\"label\":0}");

        List<TestRecord<String, ClickEvent>> out = clicks.readRecordsToList();
        assertEquals(4, out.size());
        ClickEvent e1 = out.get(0).value();
        assertEquals("e1", out.get(0).key());
        assertEquals(Instant.ofEpochMilli(1_700_000_000_000L), e1.getEventTime());
        assertEquals(EventKind.LABELED, e1.getKind());
        assertEquals(1, e1.getLabel());
        assertEquals(CRITEO.id(), e1.getLayoutId());
        List<Double> dense = new ArrayList<>(Collections.nCopies(13, (Double) null));
        dense.set(0, 3.0);
        dense.set(12, -1.0);
        assertEquals(dense, e1.getDense());
        List<String> cat = new ArrayList<>(Collections.nCopies(26, (String) null));
        cat.set(0, "68fd1e64");
        cat.set(25, "anything at all");
        assertEquals(cat, e1.getCategorical());

        ClickEvent e2 = out.get(1).value();
        assertEquals(EventKind.IMPRESSION, e2.getKind());
        assertEquals(Instant.parse("2024-02-29T12:00:00Z"), e2.getEventTime());
        assertNull(e2.getLabel());

        assertEquals("e2", out.get(2).key(), "a click is keyed by its impression, so both land in one partition");
        assertEquals(EventKind.CLICK, out.get(2).value().getKind());
        assertEquals("e2", out.get(2).value().getImpressionId());
        assertEquals(4.0, out.get(2).value().getDense().get(4));
        assertEquals(EventKind.LABELED, out.get(3).value().getKind(), "a label without kind means LABELED");
        assertTrue(dlq.isEmpty());
        assertEquals(4, stats.accepted());
        assertEquals(0, stats.rejected());
    }

    @Test
    void everyBadRecordGoesToTheDeadLetterTopicWithReasonAndSourceAndTheGoodOnesAroundItArrive() {
        int n = 0;
        for (String[] bad : BAD) {
            pipe("{\"eventId\":\"good-" + n + "\",\"eventTime\":" + n + ",\"label\":1}");
            input.pipeInput(("k" + n).getBytes(StandardCharsets.UTF_8), bad[0].getBytes(StandardCharsets.UTF_8));
            n++;
        }
        input.pipeInput(null, (byte[]) null);
        pipe("{\"eventId\":\"good-last\",\"eventTime\":1,\"label\":0}");

        List<String> good = clicks.readValuesToList().stream().map(ClickEvent::getEventId).toList();
        List<String> expectedGood = new ArrayList<>();
        for (int i = 0; i < BAD.size(); i++) expectedGood.add("good-" + i);
        expectedGood.add("good-last");
        assertEquals(expectedGood, good);

        List<TestRecord<byte[], byte[]>> dead = dlq.readRecordsToList();
        assertEquals(BAD.size() + 1, dead.size());
        for (int i = 0; i < BAD.size(); i++) {
            TestRecord<byte[], byte[]> r = dead.get(i);
            assertEquals("k" + i, new String(r.key(), StandardCharsets.UTF_8));
            assertEquals(BAD.get(i)[0], new String(r.value(), StandardCharsets.UTF_8), "the dead letter is the original bytes");
            String reason = header(r.headers(), Topics.HEADER_REASON);
            assertTrue(reason.startsWith(BAD.get(i)[1]), "record " + i + " reason: " + reason + "\nexpected start: " + BAD.get(i)[1]);
            assertEquals(TOPICS.clicksJson(), header(r.headers(), Topics.HEADER_SOURCE_TOPIC));
            assertEquals("0", header(r.headers(), Topics.HEADER_SOURCE_PARTITION));
            assertEquals(Integer.toString(2 * i + 1), header(r.headers(), Topics.HEADER_SOURCE_OFFSET));
        }
        assertEquals("empty record: the value is null", header(dead.get(BAD.size()).headers(), Topics.HEADER_REASON));
        assertEquals(BAD.size() + 1, stats.rejected());
        assertEquals(BAD.size() + 1, stats.accepted());
    }

    @Test
    void customLayoutFeatureNamesAreTheLayouts() {
        FeatureLayout shop = FeatureLayout.parse("user:categorical:100,item:categorical:100,price:numeric", 10);
        try (TopologyTestDriver d = new TopologyTestDriver(JsonClickTopology.build(TOPICS, shop, MAX_BYTES, new JsonClickTopology.Stats()),
                JsonClickTopology.streamsProperties(new JsonIngestConfig("127.0.0.1:1", TOPICS, "json-shop", MAX_BYTES, 1,
                        java.time.Duration.ofMillis(100), work)))) {
            TestInputTopic<byte[], byte[]> in = d.createInputTopic(TOPICS.clicksJson(), new ByteArraySerializer(), new ByteArraySerializer());
            in.pipeInput(null, "{\"eventId\":\"s1\",\"eventTime\":1,\"label\":1,\"dense\":{\"price\":-2.25},\"categorical\":{\"user\":\"u7\",\"item\":\"i9\"}}"
                    .getBytes(StandardCharsets.UTF_8));
            in.pipeInput(null, "{\"eventId\":\"s2\",\"eventTime\":1,\"label\":1,\"categorical\":{\"C1\":\"68fd1e64\"}}".getBytes(StandardCharsets.UTF_8));
            ClickEvent e = d.createOutputTopic(TOPICS.clicks(), new StringDeserializer(), KafkaAvroSerde.of(ClickEvent.class)).readValue();
            assertEquals(List.of(-2.25), e.getDense());
            assertEquals(Arrays.asList("u7", "i9"), e.getCategorical());
            TestRecord<byte[], byte[]> dead = d.createOutputTopic(TOPICS.clicksDlq(), new ByteArrayDeserializer(), new ByteArrayDeserializer()).readRecord();
            assertEquals("unknown categorical feature 'C1'; the layout's categorical features are [user, item]", header(dead.headers(), Topics.HEADER_REASON));
        }
    }

    private void pipe(String json) {
        input.pipeInput(null, json.getBytes(StandardCharsets.UTF_8));
    }

    static String header(Headers headers, String name) {
        var h = headers.lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }
}
