package dev.freshet.trainer.online;

import dev.freshet.kafka.junit.EmbeddedKafkaExtension;
import dev.freshet.schemas.IdFrequencyStats;
import dev.freshet.schemas.serde.AvroCodec;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.OptimizerKind;
import dev.freshet.trainer.OptimizerSpec;
import dev.freshet.trainer.Precision;
import dev.freshet.trainer.TableSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The feature-stats feed against a real broker: good records reach the target exactly, bad ones are skipped and counted. */
class FrequencyHintsTest {
    @RegisterExtension
    static final EmbeddedKafkaExtension kafka = new EmbeddedKafkaExtension();

    private static final ModelConfig MODEL = new ModelConfig(List.of(new TableSpec("C1", 1000, 4), new TableSpec("C2", 50, 4)), 2, 4,
            List.of(4), List.of(4, 1), OptimizerSpec.of(OptimizerKind.ROWWISE_ADAGRAD, 0.05f), OptimizerSpec.of(OptimizerKind.SGD, 0.01f),
            16, 1, Precision.FP32);

    @Test
    void goodRecordsReachTheBackendAndBadOnesAreCounted() throws Exception {
        String topic = kafka.uniqueName("hints.feature-stats");
        kafka.createTopic(topic, 1);
        AvroCodec<IdFrequencyStats> codec = new AvroCodec<>(IdFrequencyStats.class);
        List<byte[]> records = new ArrayList<>();
        records.add(codec.encode(stats("C1", 0, List.of(7L, 3L, 999L), List.of(90L, 40L, 2L))));
        records.add("not avro".getBytes(StandardCharsets.UTF_8));
        records.add(codec.encode(stats("C9", 0, List.of(1L), List.of(1L)))); // name does not match index 0
        records.add(codec.encode(stats("C2", 5, List.of(1L), List.of(1L)))); // no table 5
        records.add(codec.encode(stats("C2", 1, List.of(1L, 2L), List.of(5L)))); // lengths differ
        records.add(codec.encode(stats("C2", 1, List.of(49L), List.of(12L))));
        SyntheticFeatures.produce(kafka.bootstrapServers(), topic, 1, List.of(records));

        List<String> received = Collections.synchronizedList(new ArrayList<>());
        Map<String, Object> props = new HashMap<>();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        props.put(ConsumerConfig.GROUP_ID_CONFIG, kafka.uniqueName("hints-group"));
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        try (FrequencyHints hints = FrequencyHints.start(props, topic, MODEL,
                (table, rows, counts) -> received.add(table + ":" + Arrays.toString(rows) + "=" + Arrays.toString(counts)))) {
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (hints.applied() + hints.rejected() < records.size() && System.nanoTime() < deadline) Thread.sleep(20);
            assertEquals(List.of("0:[7, 3, 999]=[90, 40, 2]", "1:[49]=[12]"), received);
            assertEquals(2, hints.applied(), "records applied");
            assertEquals(4, hints.rejected(), "records skipped: not avro, name/index mismatch, no such table, lengths differ");
        }
    }

    private static IdFrequencyStats stats(String table, int index, List<Long> rows, List<Long> counts) {
        return IdFrequencyStats.newBuilder().setTable(table).setTableIndex(index).setWindowStart(java.time.Instant.ofEpochMilli(0))
                .setWindowEnd(java.time.Instant.ofEpochMilli(10_000)).setTotalCount(1000).setRows(rows).setCounts(counts).build();
    }
}
