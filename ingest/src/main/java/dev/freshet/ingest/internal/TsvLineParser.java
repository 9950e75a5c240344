package dev.freshet.ingest.internal;

import dev.freshet.features.FeatureLayout;
import dev.freshet.features.FeatureLayout.Column;
import dev.freshet.features.FeatureLayout.Kind;
import dev.freshet.ingest.EventTimeSource;
import dev.freshet.ingest.ParsedLine;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.EventKind;

import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Turns one tab-separated line into a {@link ClickEvent} following a {@link FeatureLayout}, or into a
 * rejection naming the column, the value and what was expected. Columns are found by scanning for
 * tabs once (no regex split); an empty field is a missing value except for label, event id and time.
 * For the Criteo layout, categorical values must be hexadecimal hashes as in the published data.
 *
 * <p>Not thread-safe (one per reader).
 */
public final class TsvLineParser {
    private static final int MAX_SHOWN = 40;

    private final FeatureLayout layout;
    private final long layoutId;
    private final String source;
    private final Kind[] kinds;
    private final int[] slot;
    private final String[] names;
    private final int numDense;
    private final int numCategorical;
    private final boolean hexCategorical;
    private final int[] starts;
    private final int[] ends;

    public TsvLineParser(FeatureLayout layout, String source) {
        this.layout = Objects.requireNonNull(layout, "layout");
        this.source = Objects.requireNonNull(source, "source");
        this.layoutId = layout.id();
        List<Column> columns = layout.columns();
        int n = columns.size();
        kinds = new Kind[n];
        slot = new int[n];
        names = new String[n];
        int d = 0;
        int c = 0;
        for (int i = 0; i < n; i++) {
            Column col = columns.get(i);
            kinds[i] = col.kind();
            names[i] = col.name();
            slot[i] = col.dense() ? d++ : col.kind() == Kind.CATEGORICAL ? c++ : -1;
        }
        numDense = d;
        numCategorical = c;
        hexCategorical = layout.name().equals("criteo");
        starts = new int[n];
        ends = new int[n];
    }

    /**
     * @param lineNumber 1-based line number in the file, for ids and reasons
     * @param ordinal    0-based position in the whole run, for sequence event times
     */
    public ParsedLine parse(String line, long lineNumber, long ordinal, EventTimeSource times) {
        int len = line.length();
        if (len > 0 && line.charAt(len - 1) == '\r') {
            len--;
        }
        if (len == 0) {
            return reject(lineNumber, "empty line");
        }
        int columns = 0;
        int start = 0;
        for (int i = 0; i <= len; i++) {
            if (i == len || line.charAt(i) == '\t') {
                if (columns < kinds.length) {
                    starts[columns] = start;
                    ends[columns] = i;
                }
                columns++;
                start = i + 1;
            }
        }
        if (columns != kinds.length) {
            return reject(lineNumber, columns + " columns, layout " + layout.name() + " has " + kinds.length
                    + " (" + layout.spec().replace(",", ", ") + ")");
        }
        Double[] dense = new Double[numDense];
        String[] categorical = new String[numCategorical];
        Integer label = null;
        String eventId = null;
        Long eventTime = null;
        for (int col = 0; col < kinds.length; col++) {
            int s = starts[col];
            int e = ends[col];
            switch (kinds[col]) {
                case LABEL -> {
                    if (e - s == 1 && (line.charAt(s) == '0' || line.charAt(s) == '1')) {
                        label = line.charAt(s) - '0';
                    } else {
                        return reject(lineNumber, "label " + shown(line, s, e) + " is not 0 or 1");
                    }
                }
                case EVENT_ID -> {
                    if (s == e) return reject(lineNumber, "event id column " + names[col] + " is empty");
                    eventId = line.substring(s, e);
                }
                case EVENT_TIME -> {
                    String text = line.substring(s, e);
                    try {
                        eventTime = text.matches("-?\\d{1,18}") ? Long.parseLong(text) : Instant.parse(text).toEpochMilli();
                    } catch (DateTimeParseException | ArithmeticException ex) {
                        return reject(lineNumber, "event time " + names[col] + " = " + shown(line, s, e)
                                + " is neither epoch milliseconds nor an ISO-8601 instant like 2024-01-31T12:00:00Z");
                    }
                }
                case COUNT -> {
                    if (s == e) break;
                    long v;
                    try {
                        v = parseLong(line, s, e);
                    } catch (NumberFormatException ex) {
                        return reject(lineNumber, names[col] + " = " + shown(line, s, e) + " " + ex.getMessage());
                    }
                    dense[slot[col]] = (double) v;
                }
                case NUMERIC -> {
                    if (s == e) break;
                    double v;
                    try {
                        v = Double.parseDouble(line.substring(s, e));
                    } catch (NumberFormatException ex) {
                        return reject(lineNumber, names[col] + " = " + shown(line, s, e) + " is not a number");
                    }
                    if (!Double.isFinite(v)) {
                        return reject(lineNumber, names[col] + " = " + shown(line, s, e) + " is not finite (NaN and Infinity are not allowed)");
                    }
                    dense[slot[col]] = v;
                }
                case CATEGORICAL -> {
                    if (s == e) break;
                    if (hexCategorical && !isHex(line, s, e)) {
                        return reject(lineNumber, names[col] + " = " + shown(line, s, e)
                                + " is not a hexadecimal hash of 1 to 16 digits, as Criteo categorical values are");
                    }
                    categorical[slot[col]] = line.substring(s, e);
                }
                case SKIP -> {
                }
            }
        }
        ClickEvent event = new ClickEvent();
        event.setEventId(eventId != null ? eventId : source + ":" + lineNumber);
        event.setEventTime(Instant.ofEpochMilli(eventTime != null ? eventTime : times.eventTime(ordinal)));
        event.setKind(EventKind.LABELED);
        event.setImpressionId(null);
        event.setLabel(label);
        event.setLayoutId(layoutId);
        event.setDense(Arrays.asList(dense));
        event.setCategorical(Arrays.asList(categorical));
        if (label == null) {
            // Without a label column the line is an impression whose label the feature job's join decides.
            event.setKind(EventKind.IMPRESSION);
        }
        return new ParsedLine.Accepted(lineNumber, event);
    }

    private ParsedLine.Rejected reject(long lineNumber, String why) {
        return new ParsedLine.Rejected(lineNumber, source + ":" + lineNumber + ": " + why);
    }

    /** A base-10 long without allocation; messages say "is not an integer" or "overflows a 64-bit integer". */
    static long parseLong(String s, int from, int to) {
        int i = from;
        boolean negative = false;
        if (s.charAt(i) == '-') {
            negative = true;
            i++;
            if (i == to) throw new NumberFormatException("is not an integer");
        }
        long result = 0;
        for (; i < to; i++) {
            int digit = s.charAt(i) - '0';
            if (digit < 0 || digit > 9) {
                throw new NumberFormatException("is not an integer");
            }
            // Accumulate negatively: Long.MIN_VALUE has no positive twin.
            if (result < (Long.MIN_VALUE + digit) / 10) {
                throw new NumberFormatException(overflow(s, from, to));
            }
            result = result * 10 - digit;
        }
        if (!negative) {
            if (result == Long.MIN_VALUE) throw new NumberFormatException(overflow(s, from, to));
            return -result;
        }
        return result;
    }

    private static String overflow(String s, int from, int to) {
        for (int i = from; i < to; i++) {
            char ch = s.charAt(i);
            if ((ch < '0' || ch > '9') && !(i == from && ch == '-')) return "is not an integer";
        }
        return "overflows a 64-bit integer (range " + Long.MIN_VALUE + ".." + Long.MAX_VALUE + ")";
    }

    private static boolean isHex(String s, int from, int to) {
        if (to - from > 16) return false;
        for (int i = from; i < to; i++) {
            char ch = s.charAt(i);
            if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F'))) return false;
        }
        return true;
    }

    private static String shown(String s, int from, int to) {
        return to - from <= MAX_SHOWN ? "'" + s.substring(from, to) + "'" : "'" + s.substring(from, from + MAX_SHOWN) + "...' (" + (to - from) + " chars)";
    }
}
