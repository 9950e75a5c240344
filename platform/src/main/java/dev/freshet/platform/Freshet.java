package dev.freshet.platform;

import dev.freshet.config.Command;
import dev.freshet.config.CommandLine;
import dev.freshet.config.ConfigException;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * The {@code freshet} command: finds the subcommand named by the first word(s) of the command line
 * ({@code freshet ingest ...}, {@code freshet model rollback ...}) among {@link FreshetCommands#all()},
 * parses the rest with {@link CommandLine} and runs it. The configuration may hold the keys of every
 * command, so that one file serves the whole deployment; keys nobody declares are refused. {@code freshet --help} lists the commands;
 * {@code freshet X --help} prints X's usage with every setting it reads.
 *
 * <p>Exit codes: 0 ok, 1 failed, 2 usage or configuration error, 3 ran but rejected some input
 * (as {@link Command#run} returns).
 */
public final class Freshet {
    private Freshet() {
    }

    public static void main(String[] args) {
        int code = run(args, FreshetCommands.all(), System.out, System.err);
        System.out.flush();
        // After Ctrl-C the JVM is already exiting, and a command's shutdown hook may be waiting for this
        // thread to finish: System.exit would block until that hook gave up. Returning lets both end.
        if (!shuttingDown()) {
            System.exit(code);
        }
    }

    private static boolean shuttingDown() {
        Thread probe = new Thread(() -> { });
        try {
            Runtime.getRuntime().addShutdownHook(probe);
            Runtime.getRuntime().removeShutdownHook(probe);
            return false;
        } catch (IllegalStateException e) {
            return true;
        }
    }

    /** Runs one command line; the return value is the process exit code. */
    public static int run(String[] args, List<Command> commands, PrintStream out, PrintStream err) {
        if (args.length == 0 || args[0].equals("--help") || args[0].equals("-h") || args[0].equals("help")) {
            out.print(commandList(commands));
            return args.length == 0 ? 2 : 0;
        }
        Optional<Command> found = find(args, commands);
        if (found.isEmpty()) {
            err.println("freshet: unknown command '" + args[0] + "'. Fix: run 'freshet --help' for the list of commands.");
            return 2;
        }
        Command command = found.get();
        String[] rest = Arrays.copyOfRange(args, command.name().split(" ").length, args.length);
        CommandLine line;
        try {
            // Any Freshet key is accepted, not only the command's own: one config file serves every
            // service of a deployment. A key no component declares is still refused (a typo).
            line = CommandLine.parse(rest, FreshetCommands.settings(commands), command.aliases(), System.getenv());
        } catch (ConfigException e) {
            err.println("freshet " + command.name() + ": " + e.getMessage());
            return 2;
        }
        if (line.help()) {
            out.print(CommandLine.usage(command));
            return 0;
        }
        try {
            return command.run(line);
        } catch (ConfigException e) {
            err.println("freshet " + command.name() + ": " + e.getMessage());
            return 2;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            err.println("freshet " + command.name() + ": interrupted");
            return 1;
        } catch (Exception e) {
            err.println("freshet " + command.name() + " failed: " + e);
            e.printStackTrace(err);
            return 1;
        }
    }

    /** The command whose name matches the most leading words ("model rollback" before "model"). */
    static Optional<Command> find(String[] args, List<Command> commands) {
        Command best = null;
        int bestWords = 0;
        for (Command c : commands) {
            String[] words = c.name().split(" ");
            if (words.length > args.length || words.length <= bestWords) continue;
            if (Arrays.equals(words, Arrays.copyOf(args, words.length))) {
                best = c;
                bestWords = words.length;
            }
        }
        return Optional.ofNullable(best);
    }

    /** What {@code freshet --help} prints: one line per command with its summary. */
    public static String commandList(List<Command> commands) {
        int width = commands.stream().mapToInt(c -> c.name().length()).max().orElse(8);
        StringBuilder sb = new StringBuilder("usage: freshet <command> [--config FILE] [--set KEY=VALUE]... [flags]\n\ncommands:\n");
        for (Command c : commands) {
            sb.append(String.format("  %-" + width + "s  %s%n", c.name(), c.summary()));
        }
        sb.append("\n'freshet <command> --help' shows a command's flags and settings; 'freshet settings' lists every setting.\n");
        return sb.toString();
    }
}
