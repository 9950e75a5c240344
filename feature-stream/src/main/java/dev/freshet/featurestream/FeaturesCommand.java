package dev.freshet.featurestream;

import dev.freshet.config.Command;
import dev.freshet.config.CommandLine;
import dev.freshet.config.Setting;
import org.apache.flink.configuration.DeploymentOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * {@code freshet features}: runs the feature job. Started as a plain program it runs embedded on a
 * local MiniCluster until interrupted; started through Flink's CLI
 * ({@code flink run -c dev.freshet.featurestream.FeaturesCommand freshet-feature-stream.jar --config F})
 * the same code builds the same job and submits it to that cluster.
 */
public final class FeaturesCommand implements Command {

    public static void main(String[] args) throws Exception {
        System.exit(new FeaturesCommand().execute(args));
    }

    /** Parses {@code args}, prints usage on --help, else runs; returns the exit code. */
    public int execute(String[] args) throws Exception {
        CommandLine line = CommandLine.parse(args, this);
        if (line.help()) {
            System.out.print(CommandLine.usage(this));
            return 0;
        }
        return run(line);
    }

    @Override
    public String name() {
        return "features";
    }

    @Override
    public String summary() {
        return "Run the Flink feature job: clicks -> features (columnar batches) + feature-stats, exactly once.";
    }

    @Override
    public String details() {
        return """
                Embedded (default): runs on a local MiniCluster in this process until Ctrl-C, then stops with a savepoint.
                On a cluster: flink run -c dev.freshet.featurestream.FeaturesCommand freshet-feature-stream.jar --config freshet.properties
                Example: freshet features --bootstrap 127.0.0.1:9092 --parallelism 2
                """;
    }

    @Override
    public List<Setting<?>> settings() {
        return FeatureStreamConfig.allSettings();
    }

    @Override
    public Map<String, String> aliases() {
        return Map.of("bootstrap", FeatureStreamConfig.BOOTSTRAP_SERVERS.key(),
                "parallelism", FeatureStreamConfig.PARALLELISM.key(),
                "work-dir", FeatureStreamConfig.WORK_DIR.key());
    }

    @Override
    public int run(CommandLine line) throws Exception {
        FeatureStreamConfig config = FeatureStreamConfig.from(line.config());
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(FeatureJob.flinkConfiguration(config));
        if (!"local".equals(env.getConfiguration().get(DeploymentOptions.TARGET))) {
            // Inside `flink run`: the context environment submits to the cluster.
            FeatureJob.build(env, config);
            env.execute(FeatureJob.NAME);
            return 0;
        }
        EmbeddedFeatureJob job = EmbeddedFeatureJob.start(config);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                job.close();
            } catch (Exception e) {
                System.err.println("feature job did not stop cleanly: " + e);
            } finally {
                stopped.countDown();
            }
        }, "freshet-features-stop"));
        System.out.println("feature job " + job.jobId() + " running embedded; Ctrl-C stops it");
        job.await();
        return 0;
    }
}
