package dev.freshet.trainer.online;

import dev.freshet.kafka.EmbeddedKafka;
import dev.freshet.trainer.cpu.CpuBackend;
import dev.freshet.trainer.metrics.SlidingWindowMetrics;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Clock;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * On a stream with a known ground truth, progressive validation of the online DLRM approaches the best
 * AUC any model can reach (the AUC of the true probabilities on the same examples).
 */
class ProgressiveAucTest {
    private static final int EXAMPLES = 60_000;
    private static final int WINDOW = 10_000;
    private static EmbeddedKafka kafka;

    @BeforeAll
    static void startKafka() {
        kafka = EmbeddedKafka.start();
    }

    @AfterAll
    static void stopKafka() {
        kafka.close();
    }

    @Test
    void progressiveAucApproachesTheBestAchievable(@TempDir Path tmp) throws Exception {
        SyntheticFeatures data = new SyntheticFeatures(11);
        kafka.createTopic("auc.features", 1);
        SyntheticFeatures.produce(kafka.bootstrapServers(), "auc.features", 1, OnlineTrainerTest.stream(data, 1, EXAMPLES / 250, 250));
        double best = data.bestAuc(WINDOW);
        Map<String, String> settings = new HashMap<>();
        settings.put("kafka.bootstrap-servers", kafka.bootstrapServers());
        settings.put("topics.prefix", "auc.");
        settings.put("trainer.checkpoint-dir", tmp.resolve("ck").toString());
        settings.put("trainer.publish-dir", tmp.resolve("pub").toString());
        settings.put("trainer.metric-window", Integer.toString(WINDOW));
        settings.put("trainer.stop-after-examples", Integer.toString(EXAMPLES));
        TrainerConfig config = TrainerConfig.from(dev.freshet.config.ConfigSource.of(settings));
        SlidingWindowMetrics.Snapshot m;
        try (CpuBackend backend = CpuBackend.create(data.model(50), 2);
             OnlineTrainer t = OnlineTrainerTest.trainer(config, data, backend, new RecordingSink(), Clock.systemUTC(), new TrainerListener() { })) {
            t.run();
            m = t.metrics();
        }
        double gap = best - m.auc();
        System.out.printf("progressive AUC over the last %d of %d examples: %.4f; best achievable %.4f; gap %.4f; log loss %.4f%n",
                WINDOW, EXAMPLES, m.auc(), best, gap, m.logLoss());
        assertTrue(m.auc() > 0.5, "the model learned nothing: AUC " + m.auc());
        assertTrue(gap < 0.05, "progressive AUC " + m.auc() + " is " + gap + " below the best achievable " + best);
    }
}
