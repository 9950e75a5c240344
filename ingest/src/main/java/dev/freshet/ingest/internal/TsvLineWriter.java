package dev.freshet.ingest.internal;

import dev.freshet.features.FeatureLayout;
import dev.freshet.features.FeatureLayout.Column;
import dev.freshet.schemas.ClickEvent;

import java.util.List;

/** Writes a {@link ClickEvent} as one TSV line of a {@link FeatureLayout}: the inverse of {@link TsvLineParser}. */
public final class TsvLineWriter {
    private final List<Column> columns;
    private final StringBuilder line = new StringBuilder(512);

    public TsvLineWriter(FeatureLayout layout) {
        this.columns = layout.columns();
    }

    /** The line, without its newline. */
    public String write(ClickEvent event) {
        line.setLength(0);
        int d = 0;
        int c = 0;
        for (int i = 0; i < columns.size(); i++) {
            if (i > 0) line.append('\t');
            Column col = columns.get(i);
            switch (col.kind()) {
                case LABEL -> line.append(event.getLabel() == null ? "" : event.getLabel().toString());
                case EVENT_ID -> line.append(event.getEventId());
                case EVENT_TIME -> line.append(event.getEventTime().toEpochMilli());
                case COUNT -> {
                    Double v = event.getDense().get(d++);
                    if (v != null) line.append((long) v.doubleValue());
                }
                case NUMERIC -> {
                    Double v = event.getDense().get(d++);
                    if (v != null) line.append(v.doubleValue());
                }
                case CATEGORICAL -> {
                    String v = event.getCategorical().get(c++);
                    if (v != null) line.append(v);
                }
                case SKIP -> {
                }
            }
        }
        return line.toString();
    }
}
