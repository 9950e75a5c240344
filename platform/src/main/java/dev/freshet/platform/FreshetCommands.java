package dev.freshet.platform;

import dev.freshet.config.Command;
import dev.freshet.config.Setting;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every {@code freshet} subcommand, from every module, in the order {@code freshet --help} lists them.
 * A compile-time list rather than a service lookup: a renamed or missing command breaks the build,
 * not a user's command line.
 */
public final class FreshetCommands {
    private FreshetCommands() {
    }

    public static List<Command> all() {
        List<Command> commands = new ArrayList<>();
        commands.add(new DemoCommand());
        commands.add(new dev.freshet.ingest.ReplayCommand());
        commands.add(new dev.freshet.ingest.SyntheticCommand());
        commands.add(new dev.freshet.ingest.JsonIngestCommand());
        commands.add(new dev.freshet.featurestream.FeaturesCommand());
        commands.add(new dev.freshet.trainer.online.TrainCommand());
        commands.add(new dev.freshet.trainer.retrain.RetrainCommand());
        commands.add(new PublishCommand());
        commands.add(new dev.freshet.serving.ServeCommand());
        commands.add(new dev.freshet.publisher.RollbackCommand());
        commands.add(new TopicsCommand());
        commands.add(new KafkaCommand());
        commands.add(new SettingsCommand());
        return List.copyOf(commands);
    }

    /**
     * The union of the settings of {@code commands}, one per key. Two different declarations of one
     * key would give the same config line two meanings; that is refused here (and by a test).
     */
    public static List<Setting<?>> settings(Collection<Command> commands) {
        Map<String, Setting<?>> byKey = new LinkedHashMap<>();
        for (Command c : commands) {
            for (Setting<?> s : c.settings()) {
                Setting<?> other = byKey.putIfAbsent(s.key(), s);
                if (other != null && other != s && !sameDeclaration(other, s)) {
                    throw new IllegalStateException("setting " + s.key() + " is declared twice with different meanings (command "
                            + c.name() + "): " + describe(other) + " vs " + describe(s) + ". Fix: declare it once and share the constant.");
                }
            }
        }
        return List.copyOf(byKey.values());
    }

    /** {@code settings} without repeats of one declaration (several components list the common ones). */
    public static List<Setting<?>> distinct(List<Setting<?>> settings) {
        Map<String, Setting<?>> byKey = new LinkedHashMap<>();
        for (Setting<?> s : settings) {
            byKey.putIfAbsent(s.key(), s);
        }
        return List.copyOf(byKey.values());
    }

    private static boolean sameDeclaration(Setting<?> a, Setting<?> b) {
        return a.type().equals(b.type()) && java.util.Objects.equals(a.defaultText(), b.defaultText())
                && a.allowed().equals(b.allowed()) && a.doc().equals(b.doc());
    }

    private static String describe(Setting<?> s) {
        return s.type() + " default " + s.defaultText() + " (" + s.allowed() + ")";
    }
}
