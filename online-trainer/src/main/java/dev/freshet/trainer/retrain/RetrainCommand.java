package dev.freshet.trainer.retrain;

import dev.freshet.config.Command;
import dev.freshet.config.CommandLine;
import dev.freshet.config.Durations;
import dev.freshet.config.Setting;

import java.io.IOException;
import java.io.PrintStream;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Properties;
import java.util.stream.Stream;

/**
 * {@code freshet retrain}: asks the running {@code freshet train} for a full retrain now. The trainer's
 * retrain service watches {@code retrain.dir}; this drops a request file there, shows the retrain's
 * progress line while it runs and prints the decision (promoted or kept, with both models' held-out
 * AUC and log loss) when it is made. The retrain itself runs inside the trainer process, so that the
 * promoted model is handed over in memory (see {@link RetrainJob}).
 */
public final class RetrainCommand implements Command {
    public static final Setting<Duration> WAIT = Setting.ofDuration("retrain.wait", "6h", Duration.ZERO, Duration.ofDays(7),
            "How long 'freshet retrain' waits for the decision; 0s only drops the request.");
    /** A request not taken by then most likely has no trainer to serve it: say so (and keep waiting). */
    private static final Duration PICKUP_WARNING = Duration.ofSeconds(10);
    private static final Duration LOOK_EVERY = Duration.ofMillis(250);

    private final PrintStream out;
    private final PrintStream err;
    private final Clock clock;

    public RetrainCommand() {
        this(System.out, System.err, Clock.systemUTC());
    }

    public RetrainCommand(PrintStream out, PrintStream err, Clock clock) {
        this.out = Objects.requireNonNull(out, "out");
        this.err = Objects.requireNonNull(err, "err");
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    @Override
    public String name() {
        return "retrain";
    }

    @Override
    public String summary() {
        return "Ask the running trainer for a full retrain now; show its progress and the promotion decision.";
    }

    @Override
    public String details() {
        return """
                The trainer (freshet train, same retrain.dir) replays retrain.window of the features topic, trains a
                fresh model for retrain.passes, scores it and the online model on the newest held-out examples, and
                promotes it (FULL model update, online training continues from it) if its AUC is better by
                retrain.min-auc-gain. Those settings belong to the trainer's configuration, not to this command.
                Exit codes: 0 decided (promoted, kept or nothing to train on), 1 the retrain failed or no decision
                within retrain.wait.
                Example: freshet retrain --config freshet.properties
                """;
    }

    @Override
    public List<Setting<?>> settings() {
        return List.of(RetrainConfig.DIR, WAIT);
    }

    @Override
    public Map<String, String> aliases() {
        return Map.of("wait", WAIT.key(), "dir", RetrainConfig.DIR.key());
    }

    @Override
    public int run(CommandLine line) throws IOException, InterruptedException {
        if (line.help()) {
            out.print(CommandLine.usage(this));
            return 0;
        }
        Path dir = line.config().get(RetrainConfig.DIR);
        Duration wait = line.config().get(WAIT);
        Instant requestedAt = clock.instant();
        Files.createDirectories(dir);
        Path request = RetrainScheduler.requestFile(dir);
        Path tmp = dir.resolve(".request.tmp");
        Files.writeString(tmp, "requested-at=" + requestedAt + "\n", StandardCharsets.UTF_8);
        Files.move(tmp, request, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        out.println("freshet retrain: requested in " + dir + "; the running trainer takes it within a second");
        if (wait.isZero()) {
            return 0;
        }
        boolean console = System.console() != null;
        boolean warned = false;
        String shown = null;
        Instant deadline = requestedAt.plus(wait);
        while (clock.instant().isBefore(deadline)) {
            Optional<Properties> decision = decisionSince(dir, requestedAt);
            if (decision.isPresent()) {
                if (shown != null && console) err.println();
                return report(decision.get());
            }
            if (!warned && Files.exists(request) && clock.instant().isAfter(requestedAt.plus(PICKUP_WARNING))) {
                warned = true;
                err.println("freshet retrain: no trainer has taken the request after " + PICKUP_WARNING.toSeconds() + " s. Is 'freshet train'"
                        + " running with retrain.dir = " + dir + "? (A retrain already running takes it when it ends.) Still waiting.");
            }
            String progress = progressSince(dir, requestedAt);
            if (progress != null && !progress.equals(shown)) {
                if (console) err.print("\r" + progress);
                else err.println(progress);
                err.flush();
                shown = progress;
            }
            Thread.sleep(LOOK_EVERY.toMillis());
        }
        err.println("freshet retrain: no decision within retrain.wait = " + Durations.format(wait) + ". The request stays in " + dir
                + " for the trainer to take; run again with a longer --wait to see the outcome.");
        return 1;
    }

    private int report(Properties p) {
        String decision = p.getProperty("retrain.decision", "?");
        out.println("freshet retrain: " + decision + " - " + p.getProperty("retrain.reason", ""));
        out.printf("  window %s examples, %s passes, trained %s examples in %s s (total %s s)%n", p.getProperty("retrain.window.examples"),
                p.getProperty("retrain.passes"), p.getProperty("retrain.trained-examples"), p.getProperty("retrain.train-seconds"),
                p.getProperty("retrain.total-seconds"));
        return decision.equals("failed") || decision.equals("cancelled") ? 1 : 0;
    }

    /** The decision of a command-triggered retrain that started at or after {@code since}, if one is logged. */
    static Optional<Properties> decisionSince(Path dir, Instant since) throws IOException {
        Path decisions = RetrainJob.decisionsDir(dir);
        if (!Files.isDirectory(decisions)) return Optional.empty();
        try (Stream<Path> files = Files.list(decisions)) {
            for (Path f : files.filter(f -> f.getFileName().toString().endsWith(".properties")).sorted().toList()) {
                Properties p = new Properties();
                try (Reader r = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
                    p.load(r);
                }
                String started = p.getProperty("retrain.started-at");
                if ("command".equals(p.getProperty("retrain.trigger")) && started != null && !Instant.parse(started).isBefore(since)) {
                    return Optional.of(p);
                }
            }
        }
        return Optional.empty();
    }

    private static String progressSince(Path dir, Instant since) {
        Path file = RetrainJob.progressFile(dir);
        try {
            if (!Files.exists(file) || Files.getLastModifiedTime(file).toInstant().isBefore(since.minusSeconds(1))) return null;
            return Files.readString(file, StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            return null; // replaced while we read it: the next look gets the new line
        }
    }
}
