package dev.freshet.featurestream;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The feature job running on a local MiniCluster inside this process, as the embedded platform runs
 * it. {@link #start} returns once the job is submitted, resuming from the newest savepoint or retained
 * checkpoint in the work directory; {@link #close} stops it cleanly: a final savepoint commits every open
 * Kafka transaction (so nothing waits for a next checkpoint), then the MiniCluster shuts down. Idempotent.
 *
 * <p>Resuming restores the source's offsets together with the dedup and join state of the same snapshot,
 * so a restart neither repeats nor loses an example. Starting without it, from the consumer group's
 * committed offsets, repeated the examples since the last offset commit (the source commits offsets after
 * a checkpoint completes, and the final savepoint's commit may not land before the job stops): 92-272
 * duplicates per restart of the demo at 2,000 events/s, with no dedup state to catch them.
 */
public final class EmbeddedFeatureJob implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedFeatureJob.class);
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(60);

    private final FeatureStreamConfig config;
    private final JobClient client;
    private boolean closed;

    private EmbeddedFeatureJob(FeatureStreamConfig config, JobClient client) {
        this.config = config;
        this.client = client;
    }

    /** Starts the job embedded (local MiniCluster with {@code config.parallelism()} slots). */
    public static EmbeddedFeatureJob start(FeatureStreamConfig config) throws Exception {
        Objects.requireNonNull(config, "config");
        quietKafkaMetricWarnings();
        Configuration conf = FeatureJob.flinkConfiguration(config);
        Optional<Path> snapshot = newestSnapshot(config.workDir());
        snapshot.ifPresent(p -> {
            conf.set(StateRecoveryOptions.SAVEPOINT_PATH, p.toUri().toString());
            LOG.info("feature job resumes from {}", p);
        });
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(config.parallelism(), conf);
        FeatureJob.build(env, config);
        JobClient client = env.executeAsync(FeatureJob.NAME);
        LOG.info("feature job {} started embedded: {} -> {}, parallelism {}, layout {}", client.getJobID(),
                config.topics().clicks(), config.topics().features(), config.parallelism(), config.layout().name());
        return new EmbeddedFeatureJob(config, client);
    }

    /**
     * The newest completed snapshot under {@code workDir}: a savepoint written by {@link #close}, or the
     * checkpoint a cancelled job left (FeatureJob retains it on cancellation), whichever completed last
     * (by its {@code _metadata} file, written when the snapshot completes).
     */
    static Optional<Path> newestSnapshot(Path workDir) {
        Path root = workDir.toAbsolutePath().normalize();
        try (Stream<Path> savepoints = metadataFiles(root.resolve("flink-savepoints"), 2);
             Stream<Path> checkpoints = metadataFiles(root.resolve("flink-checkpoints"), 3)) {
            return Stream.concat(savepoints, checkpoints)
                    .max(Comparator.comparing(EmbeddedFeatureJob::modified))
                    .map(Path::getParent);
        }
    }

    private static Stream<Path> metadataFiles(Path dir, int depth) {
        if (!Files.isDirectory(dir)) return Stream.empty();
        try {
            return Files.find(dir, depth, (p, a) -> a.isRegularFile() && p.getFileName().toString().equals("_metadata"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list the feature job's snapshots in " + dir, e);
        }
    }

    private static long modified(Path p) {
        try {
            return Files.getLastModifiedTime(p).toMillis();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the time of snapshot " + p, e);
        }
    }

    public JobID jobId() {
        return client.getJobID();
    }

    public JobStatus status() throws Exception {
        return client.getJobStatus().get(10, TimeUnit.SECONDS);
    }

    /** Waits for the job to end (it ends by itself only if it fails beyond its restart strategy). */
    public void await() throws Exception {
        client.getJobExecutionResult().get();
    }

    @Override
    public synchronized void close() throws Exception {
        if (closed) return;
        closed = true;
        try {
            String dir = config.workDir().toAbsolutePath().resolve("flink-savepoints").toUri().toString();
            String path = client.stopWithSavepoint(false, dir, SavepointFormatType.CANONICAL)
                    .get(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            LOG.info("feature job {} stopped with savepoint {}", client.getJobID(), path);
        } catch (Exception e) {
            LOG.warn("feature job {} did not stop with a savepoint ({}); cancelling it: the next start resumes from its last"
                    + " checkpoint, and examples since then are produced again", client.getJobID(), e.toString());
            try {
                client.cancel().get(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            } catch (Exception ignored) {
                // already finished or failed: nothing left to stop
            }
        }
    }

    /**
     * Kafka 4 clients register metrics whose names collide in Flink's metric groups, and Flink warns
     * about each one on every start. The slf4j-simple level is read when a logger is first created, so
     * this must run before Flink starts; an explicit setting by the user wins.
     */
    static void quietKafkaMetricWarnings() {
        String key = "org.slf4j.simpleLogger.log.org.apache.flink.metrics.MetricGroup";
        if (System.getProperty(key) == null) {
            System.setProperty(key, "error");
        }
    }
}
