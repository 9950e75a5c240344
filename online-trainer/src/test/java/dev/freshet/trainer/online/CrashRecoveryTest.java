package dev.freshet.trainer.online;

import dev.freshet.kafka.EmbeddedKafka;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.checkpoint.CheckpointStore;
import dev.freshet.trainer.host.HostModelState;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Crash safety, end to end: the trainer runs in a child JVM on a real broker and is killed with SIGKILL
 * (Process.destroyForcibly) in the middle of a checkpoint write, between checkpoints at a seeded random
 * step, and after a checkpoint but before its offsets were committed. After each restart it resumes; the
 * last run finishes the stream. The final weights must equal, bit for bit, those of a run that never
 * crashed, and the per-step batch log must show that every example went into exactly one step of the
 * surviving history, with the same batch boundaries as the uninterrupted run.
 */
class CrashRecoveryTest {
    private static final int PARTITIONS = 2;
    private static final int RECORDS = 40;
    private static final int PER_RECORD = 24;
    private static final int BATCH = 32;
    private static final int TOTAL = PARTITIONS * RECORDS * PER_RECORD;
    private static final int STEPS = TOTAL / BATCH;
    private static EmbeddedKafka kafka;

    @BeforeAll
    static void startKafka() {
        kafka = EmbeddedKafka.start();
        kafka.createTopic("crash.features", PARTITIONS);
        SyntheticFeatures data = new SyntheticFeatures(0);
        SyntheticFeatures.produce(kafka.bootstrapServers(), "crash.features", PARTITIONS, OnlineTrainerTest.stream(data, PARTITIONS, RECORDS, PER_RECORD));
    }

    @AfterAll
    static void stopKafka() {
        kafka.close();
    }

    /** A running child trainer with its stdout lines in a queue. */
    private static final class Child {
        final Process process;
        final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        final List<String> seen = new ArrayList<>();

        Child(Path dir, String group, String... hooks) throws IOException {
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Dorg.apache.avro.SERIALIZABLE_PACKAGES=dev.freshet", "-cp", System.getProperty("java.class.path"), TrainerProcess.class.getName(),
                    dir.resolve("batches.log").toString(),
                    "kafka.bootstrap-servers=" + kafka.bootstrapServers(), "topics.prefix=crash.", "trainer.group-id=" + group,
                    "trainer.checkpoint-dir=" + dir.resolve("checkpoints"), "trainer.publish-dir=" + dir.resolve("published"),
                    "trainer.checkpoint-events=" + 5 * BATCH, "trainer.checkpoints-kept=3", "trainer.poll-timeout=100ms",
                    "trainer.stop-after-examples=" + TOTAL, "crash.batch-size=" + BATCH));
            cmd.addAll(List.of(hooks));
            process = new ProcessBuilder(cmd).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.PIPE).start();
            Thread pump = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = r.readLine()) != null) lines.add(line);
                } catch (IOException e) {
                    // the process died: that is the point
                }
            }, "child-stdout");
            pump.setDaemon(true);
            pump.start();
        }

        /** Waits for a stdout line matching {@code p}; fails with the child's output if it exits or takes too long. */
        String await(Predicate<String> p, String what) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (System.nanoTime() < deadline) {
                String line = lines.poll(200, TimeUnit.MILLISECONDS);
                if (line != null) {
                    seen.add(line);
                    if (p.test(line)) return line;
                } else if (!process.isAlive() && lines.isEmpty()) {
                    fail("child exited with " + process.exitValue() + " before " + what + "; its output:\n" + tail());
                }
            }
            process.destroyForcibly();
            fail("no " + what + " within 90 s; child output:\n" + tail());
            return null;
        }

        void kill() throws InterruptedException {
            process.destroyForcibly(); // SIGKILL on Linux: no shutdown hooks, no finally blocks
            assertTrue(process.waitFor(30, TimeUnit.SECONDS));
        }

        String tail() {
            List<String> all = new ArrayList<>(seen);
            lines.drainTo(all);
            return String.join("\n", all.subList(Math.max(0, all.size() - 60), all.size()));
        }
    }

    private static long stepOf(String line) {
        return Long.parseLong(line.split(" ")[1]);
    }

    /** The batch of each step in the surviving history: a run that starts from step s replaces steps s and later. */
    private static Map<Long, String> survivingSteps(Path log, boolean crashedRuns) throws IOException {
        TreeMap<Long, String> steps = new TreeMap<>();
        long expectedNext = -1;
        for (String line : Files.readAllLines(log)) {
            String[] f = line.split(" ");
            if (f[0].equals("START")) {
                // the steps a crashed run took after its last checkpoint are redone (and compared) below
                expectedNext = Long.parseLong(f[1]);
                continue;
            }
            long step = Long.parseLong(f[1]);
            assertEquals(expectedNext, step, "steps of one run are consecutive and start at the resumed checkpoint");
            expectedNext++;
            String batch = f[2] + " " + f[3] + " " + f[4];
            String before = steps.put(step, batch);
            if (before != null) {
                assertTrue(crashedRuns, "an uninterrupted run never repeats a step");
                assertEquals(before, batch, "step " + step + " redone after a crash must train the same examples");
            }
        }
        return steps;
    }

    @Test
    void killedTrainerResumesAndEndsWithTheWeightsOfAnUninterruptedRun(@TempDir Path tmp) throws Exception {
        Path reference = tmp.resolve("reference");
        Files.createDirectories(reference);
        Child straight = new Child(reference, "reference");
        straight.await(l -> l.startsWith("DONE"), "DONE of the reference run");
        assertEquals(0, straight.process.waitFor());

        Path crashed = tmp.resolve("crashed");
        Files.createDirectories(crashed);
        Path checkpoints = crashed.resolve("checkpoints");
        CheckpointStore store = new CheckpointStore(checkpoints, 3);

        // 1. SIGKILL in the middle of the second checkpoint's write: dense.bin and two tables written, no manifest, no marker.
        Child c = new Child(crashed, "crashed", "pause-in-checkpoint=2:table-001.bin");
        c.await(l -> l.equals("PAUSED"), "pause inside the checkpoint write");
        c.kill();
        try (Stream<Path> s = Files.list(checkpoints)) {
            assertTrue(s.anyMatch(p -> p.getFileName().toString().startsWith(".tmp-ckpt-")), "a half-written checkpoint was left behind");
        }
        assertEquals(List.of(5L), store.list().stream().map(CheckpointStore.Checkpoint::step).toList(), "only the first checkpoint is complete");

        // 2. Resume (the half-written one is ignored and removed), then SIGKILL at a seeded random step between
        //    checkpoints (steps 11..14: the run dies with trained but un-checkpointed steps).
        long killAt = 11 + new Random(42).nextInt(4);
        c = new Child(crashed, "crashed", "pause-after-step=" + killAt);
        assertEquals(5, stepOf(c.await(l -> l.startsWith("STARTED"), "start")));
        c.await(l -> l.equals("PAUSED"), "pause after step " + killAt);
        c.kill();
        try (Stream<Path> s = Files.list(checkpoints)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().startsWith(".tmp-ckpt-")), "the restart removed the half-written checkpoint");
        }

        // 3. Resume, then SIGKILL after the next checkpoint is complete but before its offsets are committed.
        c = new Child(crashed, "crashed", "pause-before-commit=1");
        long resumed = stepOf(c.await(l -> l.startsWith("STARTED"), "start"));
        assertEquals(10, resumed, "resumes from the newest complete checkpoint");
        c.await(l -> l.equals("PAUSED"), "pause before the offset commit");
        c.kill();

        // 4. Resume and finish the stream.
        c = new Child(crashed, "crashed");
        assertEquals(15, stepOf(c.await(l -> l.startsWith("STARTED"), "start")), "the checkpoint whose commit never happened is still resumed from");
        String done = c.await(l -> l.startsWith("DONE"), "DONE of the crashed run");
        assertEquals("DONE " + STEPS + " " + TOTAL, done);
        assertEquals(0, c.process.waitFor());

        // Same weights, bit for bit.
        try (ModelState a = store(reference).loadNewest(HostModelState::allocate).orElseThrow().state();
             ModelState b = store.loadNewest(HostModelState::allocate).orElseThrow().state()) {
            OnlineTrainerTest.assertSameModel(a, b);
        }

        // Same batches in the same steps; every example of every partition in exactly one surviving step.
        Map<Long, String> straightSteps = survivingSteps(reference.resolve("batches.log"), false);
        Map<Long, String> crashedSteps = survivingSteps(crashed.resolve("batches.log"), true);
        assertEquals(STEPS, crashedSteps.size());
        assertEquals(straightSteps, crashedSteps);
        String[] next = new String[PARTITIONS];
        java.util.Arrays.fill(next, "0:0");
        for (Map.Entry<Long, String> e : crashedSteps.entrySet()) {
            String[] f = e.getValue().split(" ");
            int p = Integer.parseInt(f[0]);
            assertEquals(e.getKey() % PARTITIONS, p, "round-robin over partitions");
            assertEquals(next[p], f[1], "step " + e.getKey() + " starts where partition " + p + "'s previous step ended: nothing skipped, nothing twice");
            next[p] = f[2];
        }
        for (String end : next) assertEquals(RECORDS + ":0", end, "every record of every partition trained");

        CheckpointStore.Checkpoint last = store.list().get(0);
        assertEquals(Long.toString(TOTAL), last.metadata().get("trainer.trained-examples"));
        try (Admin admin = Admin.create(kafka.clientProps())) {
            Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets("crashed").partitionsToOffsetAndMetadata().get();
            for (int p = 0; p < PARTITIONS; p++) {
                assertEquals(RECORDS, committed.get(new TopicPartition("crash.features", p)).offset(), "committed offset of partition " + p);
            }
        }
    }

    private static CheckpointStore store(Path dir) {
        return new CheckpointStore(dir.resolve("checkpoints"), 3);
    }
}
