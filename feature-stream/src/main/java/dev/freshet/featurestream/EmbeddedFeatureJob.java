package dev.freshet.featurestream;

import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * The feature job running on a local MiniCluster inside this process, as the embedded platform runs
 * it. {@link #start} returns once the job is submitted; {@link #close} stops it cleanly: a final
 * savepoint commits every open Kafka transaction (so nothing waits for a next checkpoint), then the
 * MiniCluster shuts down. Idempotent.
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
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(config.parallelism(),
                FeatureJob.flinkConfiguration(config));
        FeatureJob.build(env, config);
        JobClient client = env.executeAsync(FeatureJob.NAME);
        LOG.info("feature job {} started embedded: {} -> {}, parallelism {}, layout {}", client.getJobID(),
                config.topics().clicks(), config.topics().features(), config.parallelism(), config.layout().name());
        return new EmbeddedFeatureJob(config, client);
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
            LOG.warn("feature job {} did not stop with a savepoint ({}); cancelling it: examples since the last checkpoint "
                    + "will be produced again from the committed offsets on the next start", client.getJobID(), e.toString());
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
