package dev.freshet.platform;

import dev.freshet.config.Command;
import dev.freshet.config.CommandLine;
import dev.freshet.config.ConfigException;
import dev.freshet.config.ConfigSource;
import dev.freshet.config.Setting;
import dev.freshet.ingest.SyntheticConfig;
import dev.freshet.platform.internal.ClickFeed;
import dev.freshet.platform.internal.ProgressMonitor;
import dev.freshet.platform.internal.StatusHistory;
import dev.freshet.platform.internal.StatusSample;
import dev.freshet.platform.internal.StatusServer;

import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * {@code freshet demo}: the whole pipeline in one process ({@link EmbeddedFreshet}), fed by the
 * synthetic stream or a Criteo TSV file, with a progress line every second, a status page on
 * loopback, a clean stop on Ctrl-C and a summary at the end.
 */
public final class DemoCommand implements Command {

    public static final Setting<String> CRITEO_FILE = new Setting<>("demo.criteo-file", "path", "", "a Criteo-layout TSV file (.gz too), or empty",
            "Feed the demo from this Criteo TSV file instead of the synthetic stream.", s -> s, s -> true);
    public static final Setting<Double> RATE = Setting.ofDouble("demo.rate", 2000, 0, 1e7,
            "Events per second the demo produces (0 = as fast as the producer goes).");
    public static final Setting<Long> EVENTS = Setting.ofLong("demo.events", 0, 0, Long.MAX_VALUE,
            "Stop producing after this many synthetic events (0 = until stopped).");
    public static final Setting<Duration> DURATION = Setting.ofDuration("demo.duration", "0s", Duration.ZERO, Duration.ofDays(365),
            "Stop the demo after this long (0 = until Ctrl-C, or until a TSV file is used up and trained).");
    public static final Setting<Integer> STATUS_PORT = Setting.ofInt("demo.status-port", 8080, 0, 65535,
            "Port of the status page on 127.0.0.1 (0 = any free port).");
    public static final Setting<Duration> PROGRESS_INTERVAL = Setting.ofDuration("demo.progress-interval", "1s",
            Duration.ofMillis(100), Duration.ofMinutes(10), "How often the demo prints a progress line and samples the status page.");
    public static final List<Setting<?>> SETTINGS = List.of(CRITEO_FILE, RATE, EVENTS, DURATION, STATUS_PORT, PROGRESS_INTERVAL);

    /** The demo's own settings, validated. */
    public record DemoConfig(Path criteoFile, double rate, long events, Duration duration, int statusPort, Duration progressInterval) {
        public DemoConfig {
            Objects.requireNonNull(duration, "duration");
            Objects.requireNonNull(progressInterval, "progressInterval");
            if (criteoFile != null && !Files.isRegularFile(criteoFile)) {
                throw new ConfigException("demo.criteo-file = '" + criteoFile + "' is not a readable file. Fix: pass an existing Criteo TSV "
                        + "file with --criteo FILE, or leave it out for the synthetic stream.");
            }
            if (criteoFile != null && events > 0) {
                throw new ConfigException("demo.events = " + events + " applies to the synthetic stream, but demo.criteo-file is set. "
                        + "Fix: leave demo.events out (the file is replayed once) or drop --criteo.");
            }
        }

        public static DemoConfig from(ConfigSource c) {
            String file = c.get(CRITEO_FILE);
            return new DemoConfig(file.isBlank() ? null : Path.of(file), c.get(RATE), c.get(EVENTS), c.get(DURATION),
                    c.get(STATUS_PORT), c.get(PROGRESS_INTERVAL));
        }
    }

    @Override
    public String name() {
        return "demo";
    }

    @Override
    public String summary() {
        return "Run everything in one process (Kafka, Flink feature job, trainer, publisher, serving) on the synthetic stream or a Criteo file.";
    }

    @Override
    public String details() {
        return """
                Prints a progress line every second (events/s produced, featurised, trained; AUC; log loss; model version;
                freshness), serves a status page on http://127.0.0.1:8080/ (metrics at /metrics), stops cleanly on Ctrl-C.
                Work directory: .work (freshet.work-dir); a second run resumes from it, and the synthetic stream
                continues after the events earlier runs produced (the model never sees an event twice).
                Examples:
                  freshet demo
                  freshet demo --criteo ../shared/data/criteo-kaggle-sample-10k.tsv --rate 2000
                  freshet demo --duration 2m --set trainer.backend=cpu
                """;
    }

    @Override
    public List<Setting<?>> settings() {
        List<Setting<?>> all = new ArrayList<>(SETTINGS);
        all.addAll(EmbeddedFreshet.SETTINGS);
        all.addAll(SyntheticConfig.SETTINGS);
        return FreshetCommands.distinct(all);
    }

    @Override
    public Map<String, String> aliases() {
        Map<String, String> a = new LinkedHashMap<>();
        a.put("criteo", CRITEO_FILE.key());
        a.put("rate", RATE.key());
        a.put("events", EVENTS.key());
        a.put("duration", DURATION.key());
        a.put("port", STATUS_PORT.key());
        a.put("work-dir", dev.freshet.config.CommonSettings.WORK_DIR.key());
        return a;
    }

    @Override
    public int run(CommandLine line) throws Exception {
        return run(line.config(), System.out);
    }

    int run(ConfigSource userConfig, PrintStream out) throws Exception {
        DemoConfig demo = DemoConfig.from(userConfig);
        long launchedAt = ManagementFactory.getRuntimeMXBean().getStartTime();
        out.println("freshet demo: starting Kafka, the Flink feature job, the trainer, the publisher and a serving replica ...");

        CountDownLatch stopRequested = new CountDownLatch(1);
        CountDownLatch stopped = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            stopRequested.countDown();
            try {
                // Let the main thread stop everything in order and print the summary before the JVM exits.
                stopped.await(120, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "freshet-demo-stop");
        Runtime.getRuntime().addShutdownHook(hook);

        EmbeddedFreshet f = EmbeddedFreshet.start(userConfig);
        StatusHistory history = new StatusHistory(3600);
        StatusServer status = null;
        ProgressMonitor monitor = null;
        ClickFeed feed = null;
        try {
            status = new StatusServer(demo.statusPort(), f.metrics(), history, "Freshet demo");
            out.printf("freshet demo: up in %.1f s; status page %s (Prometheus metrics at %smetrics); Ctrl-C stops%n",
                    (System.currentTimeMillis() - launchedAt) / 1000.0, status.url(), status.url());
            monitor = new ProgressMonitor(f.readings(), f.freshness(), history, out, demo.progressInterval(), System.nanoTime());
            if (demo.criteoFile() == null) {
                long earlier = f.clicksInTopic();
                if (earlier > 0) {
                    out.printf("freshet demo: continuing the synthetic stream at event %,d (earlier runs on %s produced the ones before)%n",
                            earlier, f.workDir());
                }
                feed = ClickFeed.synthetic(f.producer(), SyntheticConfig.from(f.config()), f.layout(), demo.rate(), demo.events(), earlier);
            } else {
                feed = ClickFeed.tsv(f.producer(), demo.criteoFile(), f.layout(), demo.rate());
            }
            feed.start();
            f.onFirstModel(servedAt -> out.printf("freshet demo: first model served %.1f s after launch%n", (servedAt - launchedAt) / 1000.0));

            long deadline = demo.duration().isZero() ? Long.MAX_VALUE : System.nanoTime() + demo.duration().toNanos();
            while (!stopRequested.await(200, TimeUnit.MILLISECONDS) && System.nanoTime() < deadline) {
                if (feed.finished() && f.caughtUp(feed.produced())) {
                    out.println("freshet demo: the input is used up and every event is trained; stopping");
                    break;
                }
            }
        } finally {
            out.println("freshet demo: stopping (feature job savepoint, trainer checkpoint) ...");
            if (feed != null) feed.close();
            if (monitor != null) monitor.close();
            if (status != null) status.close();
            f.close();
            // Read after every component stopped: the trainer's final steps and checkpoint are counted.
            StatusSample last = monitor == null ? null : monitor.sample();
            out.print(summary(f, feed, last, launchedAt));
            stopped.countDown();
        }
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            // already shutting down (Ctrl-C): the hook is running and returns now that we are done
        }
        return 0;
    }

    private static String summary(EmbeddedFreshet f, ClickFeed feed, StatusSample last, long launchedAt) {
        StringBuilder sb = new StringBuilder("\nfreshet demo summary\n");
        if (feed != null) {
            sb.append(String.format("  produced        %,d events (%,d input lines rejected before Kafka)%n", feed.produced(), feed.rejectedLines()));
        }
        if (last != null) {
            long waiting = last.featurised() - last.trained();
            String partial = waiting > 0 && waiting < f.batchSize() && !f.trainsPartialBatches()
                    ? String.format(" (%,d wait for a full batch of %,d: trainer.batch-linger is 0)", waiting, f.batchSize())
                    : waiting > 0 ? String.format(" (%,d featurised but not trained yet)", waiting) : "";
            sb.append(String.format("  featurised      %,d examples%n  trained         %,d examples%s%n  dead-lettered   %,d records%n",
                    last.featurised(), last.trained(), partial, last.deadLettered()));
            sb.append(String.format("  progressive AUC %s, log loss %s%n", fmt(last.auc()), fmt(last.logLoss())));
            sb.append("  model           ").append(last.modelVersion() < 0 ? "none published" : "v" + last.modelVersion()).append('\n');
        }
        long first = f.firstModelServedAt();
        sb.append("  first model     ").append(first < 0 ? "never served" : String.format("served %.1f s after launch", (first - launchedAt) / 1000.0)).append('\n');
        FreshnessTracker.Summary fr = f.freshness().summary();
        sb.append(String.format("  freshness       p50 %s, p99 %s, max %s over %,d examples (production -> served model)%n",
                secs(fr.p50Seconds()), secs(fr.p99Seconds()), secs(fr.maxSeconds()), fr.count()));
        sb.append("  work dir        ").append(f.workDir()).append(" (consistent; a new run resumes from it)\n");
        return sb.toString();
    }

    private static String fmt(double v) {
        return Double.isNaN(v) ? "-" : String.format("%.4f", v);
    }

    private static String secs(double v) {
        return Double.isNaN(v) ? "-" : String.format("%.3f s", v);
    }
}
