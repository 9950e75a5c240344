package dev.freshet.ingest.internal;

import dev.freshet.features.FeatureLayout;
import dev.freshet.features.FeatureLayout.Column;
import dev.freshet.features.FeatureLayout.Kind;
import dev.freshet.ingest.EventTimeSource;
import dev.freshet.ingest.ParsedLine;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.schemas.EventKind;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Turns one tab-separated line (UTF-8 bytes) into a {@link ClickEvent} following a {@link FeatureLayout},
 * or into a rejection naming the column, the value and what was expected. It works on the bytes: one
 * scan finds the tabs, counts and hex hashes are checked in place, and the fast path
 * ({@link #parseEncoded}) copies values straight into the record's Avro bytes. An empty field is a
 * missing value except for label, event id and time. For the Criteo layout, categorical values must
 * be hexadecimal hashes as in the published data.
 *
 * <p>Not thread-safe (one per reader).
 */
public final class TsvLineParser {
    private static final int MAX_SHOWN = 40;
    private static final long MULT_MIN = Long.MIN_VALUE / 10;
    private static final boolean[] HEX = new boolean[256];

    static {
        for (char c : "0123456789abcdefABCDEF".toCharArray()) HEX[c] = true;
    }

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
    private final int[] categoricalColumn;
    private final boolean hasLabelColumn;
    private final double[] denseValues;
    private final boolean[] densePresent;
    private final byte[] sourcePrefix;
    // The line being parsed and what validate() found in it.
    private byte[] line;
    private long lineNumber;
    private int label;
    private int eventIdColumn;
    private long eventTime;

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
        categoricalColumn = new int[numCategorical];
        for (int i = 0; i < n; i++) {
            if (kinds[i] == Kind.CATEGORICAL) categoricalColumn[slot[i]] = i;
        }
        hasLabelColumn = layout.hasLabel();
        denseValues = new double[numDense];
        densePresent = new boolean[numDense];
        sourcePrefix = (source + ":").getBytes(StandardCharsets.UTF_8);
    }

    /** Parses a line given as text (tests, small inputs); the same rules as the byte form. */
    public ParsedLine parse(String text, long lineNumber, long ordinal, EventTimeSource times) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        return parse(bytes, 0, bytes.length, lineNumber, ordinal, times);
    }

    /**
     * @param bytes      the line is {@code bytes[from, to)}, UTF-8, without its '\n'
     * @param lineNumber 1-based line number in the file, for ids and reasons
     * @param ordinal    0-based position in the whole run, for sequence event times
     */
    public ParsedLine parse(byte[] bytes, int from, int to, long lineNumber, long ordinal, EventTimeSource times) {
        String reason = validate(bytes, from, to, lineNumber);
        if (reason != null) {
            return reject(lineNumber, reason);
        }
        return new ParsedLine.Accepted(lineNumber, toEvent(ordinal, times));
    }

    /**
     * Like {@link #parse} but writes the accepted event's Avro bytes straight into {@code writer} (the
     * same bytes {@code AvroCodec} writes for the event {@link #parse} returns), with its record key;
     * no ClickEvent is built.
     */
    public ParsedLine parseEncoded(byte[] bytes, int from, int to, long lineNumber, long ordinal, EventTimeSource times,
                                   ClickEventWriter writer) {
        String reason = validate(bytes, from, to, lineNumber);
        if (reason != null) {
            return reject(lineNumber, reason);
        }
        long time = eventTime != Long.MIN_VALUE ? eventTime : times.eventTime(ordinal);
        byte[] key;
        if (eventIdColumn >= 0) {
            key = ClickEventWriter.canonicalUtf8(line, starts[eventIdColumn], ends[eventIdColumn]);
        } else {
            key = defaultKey(lineNumber);
        }
        writer.begin(key, time, kind(), null, label < 0 ? null : label, layoutId);
        writer.beginArray(numDense);
        for (int i = 0; i < numDense; i++) {
            if (densePresent[i]) {
                writer.doubleItem(denseValues[i]);
            } else {
                writer.nullItem();
            }
        }
        writer.endArray();
        writer.beginArray(numCategorical);
        for (int i = 0; i < numCategorical; i++) {
            int col = categoricalColumn[i];
            if (starts[col] == ends[col]) {
                writer.nullItem();
            } else if (hexCategorical) {
                writer.asciiItem(line, starts[col], ends[col]); // validated hex digits
            } else {
                writer.utf8Item(line, starts[col], ends[col]);
            }
        }
        writer.endArray();
        return new ParsedLine.Encoded(lineNumber, key, writer.toByteArray());
    }

    /** UTF-8 of {@code "<source>:<lineNumber>"}, the default event id, without building the String. */
    private byte[] defaultKey(long lineNumber) {
        int digits = 1;
        for (long v = lineNumber; v >= 10; v /= 10) digits++;
        byte[] key = Arrays.copyOf(sourcePrefix, sourcePrefix.length + digits);
        long v = lineNumber;
        for (int i = key.length - 1; i >= sourcePrefix.length; i--) {
            key[i] = (byte) ('0' + v % 10);
            v /= 10;
        }
        return key;
    }

    /** A rejection for a line the reader could not even split (too long, broken gzip). */
    public ParsedLine.Rejected reject(long lineNumber, String why) {
        this.line = null;
        return new ParsedLine.Rejected(lineNumber, source + ":" + lineNumber + ": " + why);
    }

    /** Checks the line and keeps its values; returns null when it is valid, else the reason (without the position). */
    private String validate(byte[] b, int from, int to, long lineNumber) {
        this.line = b;
        this.lineNumber = lineNumber;
        int len = to;
        if (len > from && b[len - 1] == '\r') {
            len--;
        }
        if (len == from) {
            return "empty line";
        }
        label = -1;
        eventIdColumn = -1;
        eventTime = Long.MIN_VALUE;
        // One pass: each column is scanned to its tab and checked as it is scanned. A wrong column count is
        // reported in preference to a bad value, so a value error first checks the count.
        int n = kinds.length;
        int pos = from;
        for (int col = 0; col < n; col++) {
            if (pos > len) {
                return columnCount(b, from, len);
            }
            int s = pos;
            int e = s;
            String error = null;
            switch (kinds[col]) {
                case CATEGORICAL -> {
                    if (hexCategorical) {
                        boolean bad = false;
                        while (e < len) {
                            byte ch = b[e];
                            if (ch == '\t') break;
                            bad |= !HEX[ch & 0xFF];
                            e++;
                        }
                        if (s != e && (bad || e - s > 16)) {
                            error = names[col] + " = " + shown(b, s, e)
                                    + " is not a hexadecimal hash of 1 to 16 digits, as Criteo categorical values are";
                        }
                    } else {
                        e = tab(b, s, len);
                    }
                }
                case COUNT -> {
                    e = tab(b, s, len);
                    densePresent[slot[col]] = s != e;
                    if (s != e) {
                        try {
                            denseValues[slot[col]] = parseLong(b, s, e);
                        } catch (NumberFormatException ex) {
                            error = names[col] + " = " + shown(b, s, e) + " " + ex.getMessage();
                        }
                    }
                }
                case LABEL -> {
                    e = tab(b, s, len);
                    if (e - s == 1 && (b[s] == '0' || b[s] == '1')) {
                        label = b[s] - '0';
                    } else {
                        error = "label " + shown(b, s, e) + " is not 0 or 1";
                    }
                }
                case EVENT_ID -> {
                    e = tab(b, s, len);
                    if (s == e) {
                        error = "event id column " + names[col] + " is empty";
                    }
                    eventIdColumn = col;
                }
                case EVENT_TIME -> {
                    e = tab(b, s, len);
                    String text = text(b, s, e);
                    try {
                        eventTime = text.matches("-?\\d{1,18}") ? Long.parseLong(text) : Instant.parse(text).toEpochMilli();
                    } catch (DateTimeParseException | ArithmeticException ex) {
                        error = "event time " + names[col] + " = " + shown(b, s, e)
                                + " is neither epoch milliseconds nor an ISO-8601 instant like 2024-01-31T12:00:00Z";
                    }
                }
                case NUMERIC -> {
                    e = tab(b, s, len);
                    densePresent[slot[col]] = s != e;
                    if (s != e) {
                        try {
                            double v = Double.parseDouble(text(b, s, e));
                            if (Double.isFinite(v)) {
                                denseValues[slot[col]] = v;
                            } else {
                                error = names[col] + " = " + shown(b, s, e) + " is not finite (NaN and Infinity are not allowed)";
                            }
                        } catch (NumberFormatException ex) {
                            error = names[col] + " = " + shown(b, s, e) + " is not a number";
                        }
                    }
                }
                case SKIP -> e = tab(b, s, len);
            }
            starts[col] = s;
            ends[col] = e;
            if (error != null) {
                String count = columnCount(b, from, len);
                return count != null ? count : error;
            }
            pos = e + 1;
        }
        if (pos <= len) {
            return columnCount(b, from, len); // more columns than the layout has
        }
        return null;
    }

    /** The index of the first tab in {@code b[from, len)}, or {@code len}. */
    private static int tab(byte[] b, int from, int len) {
        int i = from;
        while (i < len && b[i] != '\t') i++;
        return i;
    }

    /** The column-count complaint, or null when the count is right. */
    private String columnCount(byte[] b, int from, int len) {
        int columns = 1;
        for (int i = from; i < len; i++) {
            if (b[i] == '\t') columns++;
        }
        return columns == kinds.length ? null : columns + " columns, layout " + layout.name() + " has " + kinds.length
                + " (" + layout.spec().replace(",", ", ") + ")";
    }

    /** Without a label column the line is an impression whose label the feature job's join decides. */
    private EventKind kind() {
        return hasLabelColumn ? EventKind.LABELED : EventKind.IMPRESSION;
    }

    private ClickEvent toEvent(long ordinal, EventTimeSource times) {
        Double[] dense = new Double[numDense];
        for (int i = 0; i < numDense; i++) {
            if (densePresent[i]) dense[i] = denseValues[i];
        }
        String[] categorical = new String[numCategorical];
        for (int i = 0; i < numCategorical; i++) {
            int col = categoricalColumn[i];
            if (starts[col] != ends[col]) categorical[i] = text(line, starts[col], ends[col]);
        }
        ClickEvent event = new ClickEvent();
        event.setEventId(eventIdColumn >= 0 ? text(line, starts[eventIdColumn], ends[eventIdColumn]) : source + ":" + lineNumber);
        event.setEventTime(Instant.ofEpochMilli(eventTime != Long.MIN_VALUE ? eventTime : times.eventTime(ordinal)));
        event.setKind(kind());
        event.setImpressionId(null);
        event.setLabel(label < 0 ? null : label);
        event.setLayoutId(layoutId);
        event.setDense(Arrays.asList(dense));
        event.setCategorical(Arrays.asList(categorical));
        return event;
    }

    /** A base-10 long read in place; messages say "is not an integer" or "overflows a 64-bit integer". */
    static long parseLong(byte[] s, int from, int to) {
        int i = from;
        boolean negative = false;
        if (s[i] == '-') {
            negative = true;
            i++;
            if (i == to) throw new NumberFormatException("is not an integer");
        }
        long result = 0;
        for (; i < to; i++) {
            int digit = s[i] - '0';
            if (digit < 0 || digit > 9) {
                throw new NumberFormatException("is not an integer");
            }
            // Accumulate negatively (Long.MIN_VALUE has no positive twin), checking overflow without a division.
            if (result < MULT_MIN) {
                throw new NumberFormatException(overflow(s, from, to));
            }
            result *= 10;
            if (result < Long.MIN_VALUE + digit) {
                throw new NumberFormatException(overflow(s, from, to));
            }
            result -= digit;
        }
        if (!negative) {
            if (result == Long.MIN_VALUE) throw new NumberFormatException(overflow(s, from, to));
            return -result;
        }
        return result;
    }

    private static String overflow(byte[] s, int from, int to) {
        for (int i = from; i < to; i++) {
            byte ch = s[i];
            if ((ch < '0' || ch > '9') && !(i == from && ch == '-')) return "is not an integer";
        }
        return "overflows a 64-bit integer (range " + Long.MIN_VALUE + ".." + Long.MAX_VALUE + ")";
    }

    private static String text(byte[] b, int from, int to) {
        return new String(b, from, to - from, StandardCharsets.UTF_8);
    }

    private static String shown(byte[] b, int from, int to) {
        String s = text(b, from, to);
        return s.length() <= MAX_SHOWN ? "'" + s + "'" : "'" + s.substring(0, MAX_SHOWN) + "...' (" + s.length() + " chars)";
    }
}
