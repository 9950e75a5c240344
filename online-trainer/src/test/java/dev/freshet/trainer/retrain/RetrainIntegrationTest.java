package dev.freshet.trainer.retrain;

import dev.freshet.features.Examples;
import dev.freshet.kafka.junit.EmbeddedKafkaExtension;
import dev.freshet.trainer.checkpoint.ModelFiles;
import dev.freshet.trainer.checkpoint.ModelManifest;
import dev.freshet.trainer.retrain.RetrainResult.Decision;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import dev.freshet.config.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The retrain against the real online trainer ({@code OnlineTrainer}, CPU backend, file sink) on a real
 * broker, fed by ingest's synthetic stream with its hidden ground truth (default settings; with a shift,
 * new hot IDs and a redrawn ground truth from event {@value #SHIFT} on). Each test has its own topic.
 * Events keep arriving while a retrain runs: the held-out slice is among them.
 *
 * <p>Everything is seeded and the held-out slice is taken in a fixed order, so the figures quoted in
 * comments repeat from run to run.
 */
class RetrainIntegrationTest {
    /** Events in the log when the retrain starts; a shifting stream changes at SHIFT. */
    private static final long BEFORE = 36_000;
    private static final long SHIFT = 20_000;
    /** The window is the 16,000 events before the retrain: on a shifting stream, exactly the new regime. */
    private static final String WINDOW = Rig.window(SHIFT, BEFORE);
    @RegisterExtension
    static final EmbeddedKafkaExtension kafka = new EmbeddedKafkaExtension();

    /** Records the event ids the candidate trains on, and produces events while it trains. */
    private static final class DuringRetrain implements RetrainJob.Listener {
        final List<String> ids = Collections.synchronizedList(new ArrayList<>());
        final Rig rig;
        final long produceEvery;
        final long events;
        long batches;

        /** Produces {@code events} events after every {@code produceEvery} first-pass batches, starting with the first. */
        DuringRetrain(Rig rig, long produceEvery, long events) {
            this.rig = rig;
            this.produceEvery = produceEvery;
            this.events = events;
        }

        @Override
        public void trained(int pass, long examplesThisPass, Examples batch) {
            ids.addAll(batch.eventIds.subList(0, batch.count));
            if (pass == 1 && batches++ % produceEvery == 0) rig.features.produce(events);
        }
    }

    /** Every event id at most once; returns the set. */
    private static Set<String> once(List<String> ids, String what) {
        Set<String> set = new HashSet<>(ids);
        assertEquals(ids.size(), set.size(), what + " trained some event twice");
        return set;
    }

    /**
     * The resulting model is the candidate plus what the online trainer trained into it after the
     * hand-over: together they must hold every event from the window's start to the end of the log exactly
     * once, whatever arrived before, during or after the retrain.
     */
    private static void assertExactlyOnce(Rig rig, RetrainResult result, List<String> candidateIds) throws Exception {
        rig.awaitCaughtUp();
        List<String> resulting = new ArrayList<>(candidateIds);
        resulting.addAll(rig.onlineIds.getOrDefault(1, List.of()));
        Map<String, Long> end = new HashMap<>();
        rig.produced().forEach((tp, o) -> end.put(tp.toString(), o));
        Set<String> expected = once(rig.idsBetween(result.windowStart(), end), "the log");
        Set<String> got = once(resulting, "the promoted model");
        assertEquals(expected.size(), got.size(), "events in the promoted model vs in the log from the window's start");
        assertEquals(expected, got);
        // The events before the window are in no part of the promoted model.
        assertTrue(expected.size() < rig.features.events());
    }

    @Test
    void shiftedStreamPromotesTheRetrainAndTheOnlineModelIsAtLeastAsGoodAfter(@TempDir Path dir) throws Exception {
        try (Rig rig = new Rig(kafka.broker(), "shift", dir, 11, SHIFT)) {
            rig.features.produce(BEFORE);
            rig.awaitCaughtUp();
            RetrainJob job = rig.job(Map.of("retrain.window", WINDOW, "retrain.min-auc-gain", "0.005"), BEFORE, Rig.cpu());
            job.setListener(new DuringRetrain(rig, 1_000, 8_000));
            RetrainResult result = job.run(RetrainTrigger.COMMAND);

            // On the same 4,000 newest examples the fresh model beats the online one (about 0.773 vs 0.765 AUC):
            // the online model still carries the old regime in its shared weights and decayed Adagrad rates.
            assertEquals(Decision.PROMOTED, result.decision(), result.reason());
            assertEquals(4_000, result.candidate().examples());
            assertTrue(result.candidate().auc() >= result.online().auc() + 0.005, result.reason());
            assertTrue(result.candidate().logLoss() <= result.online().logLoss(), result.reason());
            assertEquals(16_000, result.windowExamples(), "the window holds exactly the 16,000 events since the shift");
            assertEquals(1, rig.backend.generation(), "the online trainer loaded the candidate once");

            // The FULL version carries both models' held-out metrics in its manifest.
            List<Path> fulls = rig.sink.fulls();
            assertEquals(1, fulls.size(), "one FULL, from the promotion");
            ModelManifest manifest = ModelFiles.readManifest(fulls.get(0));
            assertEquals(result.candidate().auc(), Double.parseDouble(manifest.metadata().get("metric.retrain.candidate.auc")));
            assertEquals(result.online().auc(), Double.parseDouble(manifest.metadata().get("metric.retrain.online.auc")));
            assertEquals(result.candidate().logLoss(), Double.parseDouble(manifest.metadata().get("metric.logloss")));
            result.handedOverAt().forEach((tp, o) -> assertEquals(Long.toString(o), manifest.metadata().get("offset." + tp)));

            // The decision log has it too.
            try (Stream<Path> files = Files.list(RetrainJob.decisionsDir(dir.resolve("retrain")))) {
                Path log = files.filter(p -> p.toString().endsWith(".properties")).findFirst().orElseThrow();
                Properties p = new Properties();
                try (var in = Files.newBufferedReader(log)) {
                    p.load(in);
                }
                assertEquals("promoted", p.getProperty("retrain.decision"));
                assertEquals("command", p.getProperty("retrain.trigger"));
            }

            // After the switch the online trainer goes on from the candidate: its progressive metrics on what it
            // trains next are at least as good as they were on the last 4,000 events before the switch.
            rig.features.produce(8_000);
            rig.awaitCaughtUp();
            Evaluation before = rig.backend.progressive(0, 0, 4_000, true);
            Evaluation after = rig.backend.progressive(1, 0, Integer.MAX_VALUE, false);
            assertTrue(after.examples() >= 8_000, "trained after the switch: " + after);
            assertTrue(after.auc() >= before.auc(), "online AUC after the switch " + after + " vs before " + before);
            assertTrue(after.logLoss() <= before.logLoss(), "online log loss after the switch " + after + " vs before " + before);
        }
    }

    @Test
    void stationaryStreamPromotesNothingWhenAskedByFreshetRetrain(@TempDir Path dir) throws Exception {
        try (Rig rig = new Rig(kafka.broker(), "stationary", dir, 11, 0)) {
            rig.features.produce(BEFORE);
            rig.awaitCaughtUp();
            // The trainer process's retrain service, and `freshet retrain` asking it through retrain.dir.
            RetrainConfig config = rig.retrainConfig(Map.of("retrain.window", WINDOW, "retrain.min-auc-gain", "0.005"));
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            int exit;
            RetrainResult result;
            try (RetrainScheduler service = RetrainScheduler.start(config, rig.trainer, Rig.cpu(), rig.clientProps, rig.topic,
                    Rig.clockAt(BEFORE))) {
                service.job().setListener(new DuringRetrain(rig, 1_000, 8_000));
                // The command's own clock runs a minute behind the retrain's, which is stopped at the newest event.
                Clock commandClock = Clock.offset(Clock.systemUTC(),
                        Duration.between(Instant.now(), SyntheticFeatures.eventTime(BEFORE).minusSeconds(60)));
                RetrainCommand command = new RetrainCommand(new PrintStream(out, true, StandardCharsets.UTF_8),
                        new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8), commandClock);
                exit = command.run(CommandLine.parse(new String[]{"--dir", config.dir().toString(), "--wait", "2m"}, command.settings(),
                        command.aliases(), Map.of()));
                result = service.last().orElseThrow();
            }
            String printed = out.toString(StandardCharsets.UTF_8);
            assertEquals(0, exit, printed);
            assertTrue(printed.contains("freshet retrain: kept_online - auc gain below the margin"), printed);

            // Same stream without the shift: the online model, which has seen more of the same regime, is better
            // (about 0.761 vs 0.748), so it stays.
            assertEquals(Decision.KEPT_ONLINE, result.decision(), result.reason());
            assertTrue(result.candidate().auc() < result.online().auc() + 0.005, result.reason());
            assertEquals(Map.of(), result.handedOverAt());
            rig.awaitCaughtUp();
            assertEquals(0, rig.backend.generation(), "the online model was never replaced");
            assertEquals(List.of(), rig.sink.fulls(), "nothing was published");
            // The online trainer trained the whole stream, once, from its own model.
            Set<String> trained = once(rig.onlineIds.get(0), "the online trainer");
            assertEquals(rig.features.events(), trained.size());
        }
    }

    @Test
    void handOverLosesNoEventAndDoublesNone(@TempDir Path dir) throws Exception {
        try (Rig rig = new Rig(kafka.broker(), "handover", dir, 11, SHIFT)) {
            rig.features.produce(BEFORE);
            rig.awaitCaughtUp();
            RetrainJob job = rig.job(Map.of("retrain.window", WINDOW, "retrain.min-auc-gain", "0.005"), BEFORE, Rig.cpu());
            // Events keep arriving all through the first pass: 1,000 after every 10 batches.
            DuringRetrain during = new DuringRetrain(rig, 10, 1_000);
            job.setListener(during);
            RetrainResult result = job.run(RetrainTrigger.COMMAND);
            assertEquals(Decision.PROMOTED, result.decision(), result.reason());
            assertTrue(result.trainedExamples() > result.windowExamples(), "the candidate caught up past the window before the hand-over");
            rig.features.produce(4_000);
            assertExactlyOnce(rig, result, during.ids);
            // The hand-over point lies past the held-out slice: the candidate caught up over it itself.
            result.handedOverAt().forEach((tp, o) -> assertTrue(o >= result.holdoutEnd().get(tp), tp + " handed over at " + o));
        }
    }

    @Test
    void killedRetrainLeavesTheOnlineTrainerAloneAndARestartPromotes(@TempDir Path dir) throws Exception {
        try (Rig rig = new Rig(kafka.broker(), "killed", dir, 11, SHIFT)) {
            rig.features.produce(BEFORE);
            rig.awaitCaughtUp();
            Map<String, String> settings = Map.of("retrain.window", WINDOW, "retrain.min-auc-gain", "0.005");

            // Kill the retrain from outside, mid-pass, while events keep arriving.
            RetrainJob first = rig.job(settings, BEFORE, Rig.cpu());
            CountDownLatch midPass = new CountDownLatch(1);
            first.setListener((pass, n, batch) -> {
                if (pass == 1 && n == 20L * Rig.BATCH) {
                    rig.features.produce(4_000);
                    midPass.countDown();
                }
            });
            AtomicReference<RetrainResult> killed = new AtomicReference<>();
            Thread retrain = new Thread(() -> killed.set(first.run(RetrainTrigger.SCHEDULE)), "retrain-to-kill");
            retrain.start();
            assertTrue(midPass.await(60, TimeUnit.SECONDS));
            retrain.interrupt();
            retrain.join(60_000);
            assertNotNull(killed.get());
            assertEquals(Decision.CANCELLED, killed.get().decision(), killed.get().reason());

            // The online trainer did not notice: it trained everything, its model untouched, nothing published.
            rig.awaitCaughtUp();
            assertEquals(0, rig.backend.generation());
            assertEquals(List.of(), rig.sink.fulls());
            assertEquals(rig.features.events(), once(rig.onlineIds.get(0), "the online trainer").size());

            // A restarted retrain starts over from a new cut and completes.
            RetrainJob second = rig.job(Map.of("retrain.window", Rig.window(SHIFT, BEFORE + 4_000), "retrain.min-auc-gain", "0.002"),
                    BEFORE + 4_000, Rig.cpu());
            DuringRetrain during = new DuringRetrain(rig, 1_000, 8_000);
            second.setListener(during);
            RetrainResult result = second.run(RetrainTrigger.SCHEDULE);
            assertEquals(Decision.PROMOTED, result.decision(), result.reason());
            assertEquals(20_000, result.windowExamples(), "the new cut's window: the shift up to the online position");
            rig.features.produce(4_000);
            assertExactlyOnce(rig, result, during.ids);
        }
    }
}
