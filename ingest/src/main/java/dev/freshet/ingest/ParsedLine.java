package dev.freshet.ingest;

import dev.freshet.schemas.ClickEvent;

/** What one input line became: an event (as an object or as its record bytes), or a rejection with the reason. */
public sealed interface ParsedLine {
    /** 1-based line number in its file. */
    long lineNumber();

    record Accepted(long lineNumber, ClickEvent event) implements ParsedLine {
    }

    /**
     * An accepted event already encoded for the clicks topic: {@code value} is exactly what
     * {@code AvroCodec<ClickEvent>} writes for it, {@code key} the UTF-8 of {@link ClickProducer#keyOf}.
     */
    record Encoded(long lineNumber, byte[] key, byte[] value) implements ParsedLine {
    }

    /** @param reason says where, what is wrong, and what was expected: "clicks.tsv:17: 39 columns, layout criteo has 40" */
    record Rejected(long lineNumber, String reason) implements ParsedLine {
    }
}
