package dev.freshet.config;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A parsed command line: {@code --config FILE}, {@code --set key=value} (repeatable), aliased flags
 * ({@code --rate 5000} or {@code --rate=5000}), {@code --help}, and positional arguments. Settings are
 * resolved through {@link ConfigSource#load}, so file, environment and flags combine the same way for
 * every command.
 */
public final class CommandLine {
    private final ConfigSource config;
    private final List<String> positional;
    private final boolean help;

    private CommandLine(ConfigSource config, List<String> positional, boolean help) {
        this.config = config;
        this.positional = List.copyOf(positional);
        this.help = help;
    }

    public static CommandLine parse(String[] args, Collection<Setting<?>> settings, Map<String, String> aliases,
                                    Map<String, String> env) {
        Objects.requireNonNull(args, "args");
        Path file = null;
        List<String> overrides = new ArrayList<>();
        List<String> positional = new ArrayList<>();
        boolean help = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--help") || a.equals("-h")) {
                help = true;
            } else if (a.equals("--")) {
                positional.addAll(List.of(args).subList(i + 1, args.length));
                break;
            } else if (a.startsWith("--")) {
                String flag = a.substring(2);
                String value = null;
                int eq = flag.indexOf('=');
                if (eq >= 0) {
                    value = flag.substring(eq + 1);
                    flag = flag.substring(0, eq);
                }
                if (value == null) {
                    if (i + 1 >= args.length) {
                        throw new ConfigException("flag --" + flag + " needs a value. Fix: write --" + flag + " VALUE.");
                    }
                    value = args[++i];
                }
                switch (flag) {
                    case "config" -> file = Path.of(value);
                    case "set" -> overrides.add(value);
                    default -> {
                        String name = flag;
                        String key = aliases.get(name);
                        if (key == null && settings.stream().anyMatch(s -> s.key().equals(name))) {
                            key = name;
                        }
                        if (key == null) {
                            throw new ConfigException("unknown flag --" + flag + ". Fix: see --help for the flags, or use --set KEY=VALUE.");
                        }
                        overrides.add(key + "=" + value);
                    }
                }
            } else {
                positional.add(a);
            }
        }
        ConfigSource config = help ? ConfigSource.empty() : ConfigSource.load(file, env, overrides, settings);
        return new CommandLine(config, positional, help);
    }

    public static CommandLine parse(String[] args, Command command) {
        return parse(args, command.settings(), command.aliases(), System.getenv());
    }

    public ConfigSource config() {
        return config;
    }

    public List<String> positional() {
        return positional;
    }

    public boolean help() {
        return help;
    }

    /** Usage text: summary, details, then one line per setting with type, default, range and doc. */
    public static String usage(Command command) {
        StringBuilder sb = new StringBuilder();
        sb.append("usage: freshet ").append(command.name()).append(" [--config FILE] [--set KEY=VALUE]... [flags]\n\n")
                .append(command.summary()).append('\n');
        if (!command.details().isEmpty()) {
            sb.append('\n').append(command.details().strip()).append('\n');
        }
        Map<String, String> aliases = command.aliases();
        sb.append("\nsettings (file key, --set KEY=VALUE, or env):\n");
        for (Setting<?> s : command.settings()) {
            String flag = aliases.entrySet().stream().filter(e -> e.getValue().equals(s.key())).map(e -> "--" + e.getKey() + ", ").findFirst().orElse("");
            sb.append(String.format("  %s%s  (%s, default %s, %s)%n      %s%n", flag, s.key(), s.type(),
                    s.defaultText() == null ? "required" : (s.defaultText().isEmpty() ? "\"\"" : s.defaultText()), s.allowed(), s.doc()));
        }
        return sb.toString();
    }
}
