package dev.freshet.trainer.online;

import dev.freshet.config.Command;
import dev.freshet.config.CommandLine;
import dev.freshet.config.ConfigSource;
import dev.freshet.config.Setting;
import dev.freshet.features.FeatureLayout;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelDivergedException;
import dev.freshet.trainer.TrainerBackend;
import dev.freshet.trainer.cpu.CpuBackend;
import dev.freshet.trainer.cuda.CudaOptions;
import dev.freshet.trainer.host.HostModelState;
import dev.freshet.trainer.retrain.RetrainConfig;
import dev.freshet.trainer.retrain.RetrainScheduler;
import org.apache.kafka.clients.consumer.KafkaConsumer;

import java.io.IOException;
import java.io.PrintStream;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * {@code freshet train}: the online trainer as a service. Reads {@code features}, trains, writes
 * checkpoints and model updates (files, where no publisher is attached), prints a status line every
 * {@code trainer.status-interval}. Stops cleanly (final checkpoint) on SIGTERM or Ctrl-C; after a crash
 * the next start resumes from the newest complete checkpoint.
 */
public final class TrainCommand implements Command {
    private final PrintStream out;
    private final PrintStream err;

    public TrainCommand() {
        this(System.out, System.err);
    }

    public TrainCommand(PrintStream out, PrintStream err) {
        this.out = Objects.requireNonNull(out, "out");
        this.err = Objects.requireNonNull(err, "err");
    }

    @Override
    public String name() {
        return "train";
    }

    @Override
    public String summary() {
        return "Train the DLRM online from the features topic, with checkpoints, model deltas and progressive AUC.";
    }

    @Override
    public String details() {
        return """
                Resumes from the newest complete checkpoint in trainer.checkpoint-dir (a fresh model from
                trainer.start-position where there is none). Status line: step | examples | examples/s |
                progressive AUC and log loss | checkpoint age | model version | rejected records.
                Exit codes: 0 stopped cleanly, 1 failed (e.g. the model diverged), 2 bad settings.
                Example: freshet train --bootstrap 127.0.0.1:9092 --set trainer.backend=cpu --set model.batch-size=2048
                """;
    }

    @Override
    public List<Setting<?>> settings() {
        Map<String, Setting<?>> all = new LinkedHashMap<>();
        List<Setting<?>> lists = new ArrayList<>();
        lists.addAll(TrainerConfig.SETTINGS);
        lists.addAll(FeatureLayout.SETTINGS);
        lists.addAll(ModelConfig.SETTINGS);
        lists.addAll(CpuBackend.SETTINGS);
        lists.addAll(CudaOptions.SETTINGS);
        lists.addAll(RetrainConfig.SETTINGS);
        for (Setting<?> s : lists) all.putIfAbsent(s.key(), s);
        return List.copyOf(all.values());
    }

    @Override
    public Map<String, String> aliases() {
        return Map.of("bootstrap", "kafka.bootstrap-servers", "backend", TrainerConfig.BACKEND.key(),
                "checkpoint-dir", TrainerConfig.CHECKPOINT_DIR.key(), "batch-size", ModelConfig.BATCH_SIZE.key());
    }

    @Override
    public int run(CommandLine line) throws Exception {
        if (line.help()) {
            out.print(CommandLine.usage(this));
            return 0;
        }
        ConfigSource c = line.config();
        TrainerConfig config = TrainerConfig.from(c);
        FeatureLayout layout = FeatureLayout.from(c);
        ModelConfig model = ModelConfig.from(layout, c);
        try (TrainerBackend backend = TrainerBackends.create(config.backend(), model, c);
             FileModelSink sink = new FileModelSink(config.publishDir(), 100, 2);
             OnlineTrainer trainer = OnlineTrainer.builder(config, model, layout.id())
                     .backend(backend).sink(sink)
                     .consumer(new KafkaConsumer<>(OnlineTrainer.consumerProperties(config)))
                     .stateAllocator(HostModelState::allocate)
                     .listener(new TrainerListener() {
                         @Override
                         public void status(TrainerStatus status) {
                             out.println(status.line());
                         }
                     })
                     .build()) {
            out.println("freshet train: " + backend.description() + ", " + model.numTables() + " tables, " + model.totalRows()
                    + " rows, batch " + model.batchSize() + ", reading " + config.topics().features() + " at " + config.bootstrapServers());
            try {
                runUntilStopped(trainer, config, c, "freshet-train");
            } catch (ModelDivergedException e) {
                err.println("freshet train: " + e.getMessage());
                return 1;
            }
            out.println("freshet train: stopped at step " + trainer.step() + " with " + trainer.trainedExamples() + " examples trained");
            return 0;
        }
    }

    /**
     * Runs {@code trainer} until its stream ends or the process is asked to stop, with the periodic retrain
     * beside it on its own thread and backend (see RetrainJob), and, where the backend caches embedding rows,
     * the feature job's ID heavy hitters fed to it ({@link FrequencyHints}). On SIGTERM the shutdown hook asks the loop to
     * stop and waits for its final checkpoint on a latch, not on the calling thread, which may itself be
     * blocked in System.exit once the command returns.
     *
     * @throws ModelDivergedException if training diverged; nothing after that point was handed to the sink
     */
    public static void runUntilStopped(OnlineTrainer trainer, TrainerConfig config, ConfigSource c, String name) throws IOException {
        CountDownLatch stopped = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            trainer.stop();
            try {
                stopped.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, name + "-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try (RetrainScheduler retrain = RetrainScheduler.start(RetrainConfig.from(c), trainer,
                (m, threads) -> TrainerBackends.create(config.backend(), m, c.with(CpuBackend.THREADS, Integer.toString(threads))),
                OnlineTrainer.consumerProperties(config), config.topics().features(), Clock.systemUTC());
             FrequencyHints hints = trainer.usesFrequencyHints()
                     ? FrequencyHints.start(OnlineTrainer.consumerProperties(config), config.topics().featureStats(), trainer.config(),
                             trainer::frequencyHints)
                     : null) {
            trainer.run();
        } finally {
            stopped.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // already shutting down: the hook is running
            }
        }
    }
}
