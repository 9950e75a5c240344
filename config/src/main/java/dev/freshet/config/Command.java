package dev.freshet.config;

import java.util.List;

/**
 * A {@code freshet} subcommand ({@code ingest}, {@code train}, ...). The platform's launcher finds
 * commands by name, parses the command line with {@link CommandLine} against {@link #settings()}, and
 * prints {@link CommandLine#usage} for {@code --help}.
 */
public interface Command {
    /** The word after {@code freshet}, e.g. "train"; sub-commands may use two words ("model rollback"). */
    String name();

    /** One line for the command list. */
    String summary();

    /** Extra usage text: positional arguments and examples. */
    default String details() {
        return "";
    }

    /** Every setting the command reads; also the keys {@code --set} accepts. */
    List<Setting<?>> settings();

    /** Flag aliases: {@code "rate" -> "ingest.rate"} makes {@code --rate 5000} set that key. */
    default java.util.Map<String, String> aliases() {
        return java.util.Map.of();
    }

    /** Runs the command; returns the process exit code (0 ok, 1 failed, 2 usage error, 3 ran with rejects). */
    int run(CommandLine line) throws Exception;
}
