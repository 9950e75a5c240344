package dev.freshet.ingest;

import dev.freshet.schemas.ClickEvent;

/** What one input line became: an event, or a rejection with the reason. */
public sealed interface ParsedLine {
    /** 1-based line number in its file. */
    long lineNumber();

    record Accepted(long lineNumber, ClickEvent event) implements ParsedLine {
    }

    /** @param reason says where, what is wrong, and what was expected: "clicks.tsv:17: 39 columns, layout criteo has 40" */
    record Rejected(long lineNumber, String reason) implements ParsedLine {
    }
}
