package dev.freshet.trainer.online;

import dev.freshet.config.ConfigSource;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.checkpoint.CheckpointStore;
import dev.freshet.trainer.cpu.CpuBackend;
import dev.freshet.trainer.host.HostModelState;
import org.apache.kafka.clients.consumer.KafkaConsumer;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * The online trainer as a child process for {@link CrashRecoveryTest}: trains the {@link SyntheticFeatures}
 * model with the real CPU backend and appends every step's batch ("STEP step partition from to") to a log
 * file, so that the parent can check which examples went into which step across kills.
 *
 * <pre>
 * args: LOGFILE [key=value ...] [pause-in-checkpoint=N:FILE] [pause-before-commit=N] [pause-after-step=S]
 * </pre>
 * {@code pause-in-checkpoint=2:table-001.bin} blocks for ever in this run's 2nd checkpoint right after that
 * file is written (the parent then kills it mid-write); {@code pause-before-commit=1} blocks once the 1st
 * checkpoint is complete but before its offsets are committed; {@code pause-after-step=12} blocks right after
 * step 12 (between checkpoints). Prints "STARTED step", "STEP ...",
 * "PAUSED" and "DONE step examples" on stdout.
 */
public final class TrainerProcess {
    private TrainerProcess() {
    }

    public static void main(String[] args) throws Exception {
        Path log = Path.of(args[0]);
        Map<String, String> settings = new HashMap<>();
        int pauseInCheckpoint = -1;
        String pauseAfterFile = null;
        int pauseBeforeCommit = -1;
        long pauseAfterStep = -1;
        for (int i = 1; i < args.length; i++) {
            String[] kv = args[i].split("=", 2);
            switch (kv[0]) {
                case "pause-in-checkpoint" -> {
                    String[] nf = kv[1].split(":", 2);
                    pauseInCheckpoint = Integer.parseInt(nf[0]);
                    pauseAfterFile = nf[1];
                }
                case "pause-before-commit" -> pauseBeforeCommit = Integer.parseInt(kv[1]);
                case "pause-after-step" -> pauseAfterStep = Long.parseLong(kv[1]);
                default -> settings.put(kv[0], kv[1]);
            }
        }
        TrainerConfig config = TrainerConfig.from(ConfigSource.of(settings));
        SyntheticFeatures data = new SyntheticFeatures(0);
        ModelConfig model = data.model(Integer.parseInt(settings.getOrDefault("crash.batch-size", "32")));
        try (OutputStream out = new FileOutputStream(log.toFile(), true);
             CpuBackend backend = CpuBackend.create(model, 2)) {
            Hooks hooks = new Hooks(out, pauseInCheckpoint, pauseAfterFile, pauseBeforeCommit, pauseAfterStep);
            try (OnlineTrainer trainer = OnlineTrainer.builder(config, model, data.layout.id())
                    .backend(backend).sink(new RecordingSink())
                    .consumer(new KafkaConsumer<>(OnlineTrainer.consumerProperties(config)))
                    .stateAllocator(HostModelState::allocate).listener(hooks).build()) {
                trainer.start();
                hooks.line("START " + trainer.step());
                say("STARTED " + trainer.step());
                trainer.run();
                say("DONE " + trainer.step() + " " + trainer.trainedExamples());
            }
        }
        System.exit(0);
    }

    static void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    private static final class Hooks implements TrainerListener {
        private final OutputStream out;
        private final int pauseInCheckpoint;
        private final String pauseAfterFile;
        private final int pauseBeforeCommit;
        private final long pauseAfterStep;
        private int checkpointsStarted;
        private int checkpointsWritten;
        private long lastCheckpointStep = -1;

        Hooks(OutputStream out, int pauseInCheckpoint, String pauseAfterFile, int pauseBeforeCommit, long pauseAfterStep) {
            this.pauseAfterStep = pauseAfterStep;
            this.out = out;
            this.pauseInCheckpoint = pauseInCheckpoint;
            this.pauseAfterFile = pauseAfterFile;
            this.pauseBeforeCommit = pauseBeforeCommit;
        }

        /** One write() per line: a SIGKILL loses nothing that was written. */
        void line(String s) {
            try {
                out.write((s + "\n").getBytes(StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }

        @Override
        public void afterStep(long step, int partition, String from, String to, double loss) {
            line("STEP " + step + " " + partition + " " + from + " " + to);
            say("STEP " + step);
            if (step == pauseAfterStep) pause();
        }

        @Override
        public void checkpointFileWritten(long step, String file) {
            if (step != lastCheckpointStep) {
                lastCheckpointStep = step;
                checkpointsStarted++;
            }
            if (checkpointsStarted == pauseInCheckpoint && file.equals(pauseAfterFile)) pause();
        }

        @Override
        public void checkpointWritten(CheckpointStore.Checkpoint checkpoint) {
            if (++checkpointsWritten == pauseBeforeCommit) pause();
        }

        private static void pause() {
            say("PAUSED");
            while (true) {
                try {
                    Thread.sleep(60_000); // the parent kills this process here
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }
}
