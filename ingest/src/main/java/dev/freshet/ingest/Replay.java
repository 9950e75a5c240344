package dev.freshet.ingest;

import dev.freshet.features.FeatureLayout;
import dev.freshet.ingest.internal.Pacer;
import dev.freshet.ingest.internal.ProgressLine;
import dev.freshet.ingest.internal.RejectLog;
import org.apache.kafka.clients.producer.Callback;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.Objects;

/**
 * Replays click-log files into Kafka: parse each line ({@link TsvClickReader}), pace to the rate limit,
 * send ({@link ClickProducer}), report progress; rejected lines are counted and the first reasons kept,
 * and the lines around them still go out. The {@code ingest replay} command and the ingest benchmark
 * both run this.
 */
public final class Replay {
    private static final Callback IGNORE = (metadata, error) -> { };

    /**
     * @param events       events handed to the producer
     * @param acked        events the broker acknowledged
     * @param rejects      lines rejected (each counted once)
     * @param firstReasons the first {@code ingest.reasons-shown} reject reasons
     * @param bytes        bytes read from the files
     * @param failed       events the producer could not deliver
     * @param firstError   the first delivery failure, or null
     * @param elapsed      wall time from the first line to the last acknowledgement
     */
    public record Result(long events, long acked, long rejects, List<String> firstReasons, long bytes, long failed,
                         Exception firstError, Duration elapsed) {
        /** 1 when events were lost, 3 when lines were rejected, else 0 (see {@link dev.freshet.config.Command#run}). */
        public int exitCode() {
            return failed > 0 ? 1 : rejects > 0 ? 3 : 0;
        }

        public double eventsPerSecond() {
            return events / Math.max(1e-9, elapsed.toNanos() / 1e9);
        }
    }

    private final FeatureLayout layout;
    private final ClickProducer producer;
    private final EventTimeSource times;
    private final Pacer pacer;
    private final ProgressLine progress;
    private final int reasonsShown;

    /** @param progress where progress goes, or null for none */
    public Replay(FeatureLayout layout, ClickProducer producer, EventTimeSource times, Pacer pacer, ProgressLine progress, int reasonsShown) {
        this.layout = Objects.requireNonNull(layout, "layout");
        this.producer = Objects.requireNonNull(producer, "producer");
        this.times = Objects.requireNonNull(times, "times");
        this.pacer = Objects.requireNonNull(pacer, "pacer");
        this.progress = progress;
        this.reasonsShown = reasonsShown;
    }

    /** Replays {@code files} in order; returns after every sent event is acknowledged or failed. */
    public Result run(List<Path> files) throws IOException, InterruptedException {
        Objects.requireNonNull(files, "files");
        for (Path f : files) {
            if (!Files.isRegularFile(f)) {
                throw new NoSuchFileException(f.toString(), null, "not a readable file. Fix: pass existing TSV or .gz click logs");
            }
        }
        long start = System.nanoTime();
        RejectLog rejects = new RejectLog(reasonsShown);
        // Parsing runs on its own thread, a few batches ahead of sending: on a machine with a spare core the
        // replay then goes as fast as the producer alone; the bounded queue keeps memory flat.
        BlockingQueue<Batch> queue = new ArrayBlockingQueue<>(QUEUE_BATCHES);
        ParseAhead parser = new ParseAhead(files, queue);
        Thread thread = new Thread(parser, "freshet-replay-parser");
        thread.setDaemon(true);
        thread.start();
        long events = 0;
        long bytes = 0;
        try {
            while (true) {
                Batch batch = queue.take();
                if (batch.error != null) {
                    throw batch.error;
                }
                for (ParsedLine parsed : batch.lines) {
                    if (parsed instanceof ParsedLine.Encoded encoded) {
                        pacer.acquire();
                        producer.sendEncoded(encoded.key(), encoded.value(), IGNORE);
                        events++;
                    } else {
                        rejects.add(((ParsedLine.Rejected) parsed).reason());
                    }
                }
                bytes = batch.bytesSoFar;
                if (progress != null) {
                    progress.update(events, bytes, rejects.count());
                }
                if (batch.last) {
                    break;
                }
            }
        } finally {
            thread.interrupt();
            thread.join();
        }
        producer.flush();
        Duration elapsed = Duration.ofNanos(System.nanoTime() - start);
        if (progress != null) {
            progress.finish(events, bytes, rejects.count());
        }
        return new Result(events, producer.acked(), rejects.count(), rejects.first(), bytes, producer.failed(),
                producer.firstError(), elapsed);
    }

    private static final int BATCH_LINES = 512;
    private static final int QUEUE_BATCHES = 8;

    /** Lines parsed ahead, with the file bytes read so far; the last batch of a run, or one carrying the reader's error, ends it. */
    private record Batch(List<ParsedLine> lines, long bytesSoFar, boolean last, IOException error) {
    }

    /** Reads and encodes every file in order into batches. */
    private final class ParseAhead implements Runnable {
        private final List<Path> files;
        private final BlockingQueue<Batch> queue;

        ParseAhead(List<Path> files, BlockingQueue<Batch> queue) {
            this.files = files;
            this.queue = queue;
        }

        @Override
        public void run() {
            try {
                long bytesBefore = 0;
                long ordinal = 0;
                List<ParsedLine> lines = new ArrayList<>(BATCH_LINES);
                for (Path file : files) {
                    try (TsvClickReader reader = TsvClickReader.open(file, layout, times, ordinal)) {
                        for (ParsedLine p; (p = reader.nextEncoded()) != null; ) {
                            lines.add(p);
                            if (lines.size() == BATCH_LINES) {
                                queue.put(new Batch(lines, bytesBefore + reader.bytesRead(), false, null));
                                lines = new ArrayList<>(BATCH_LINES);
                            }
                        }
                        ordinal = reader.nextOrdinal();
                        bytesBefore += reader.bytesRead();
                    }
                }
                queue.put(new Batch(lines, bytesBefore, true, null));
            } catch (IOException e) {
                putQuietly(new Batch(List.of(), 0, true, e));
            } catch (InterruptedException e) {
                // The sender stopped (failure or interrupt): nothing more is wanted.
            } catch (RuntimeException e) {
                putQuietly(new Batch(List.of(), 0, true, new IOException("replay parser failed: " + e, e)));
            }
        }

        private void putQuietly(Batch batch) {
            try {
                queue.put(batch);
            } catch (InterruptedException ignored) {
                // The sender is gone; it no longer waits for this.
            }
        }
    }
}
