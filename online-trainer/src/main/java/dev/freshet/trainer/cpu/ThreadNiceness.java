package dev.freshet.trainer.cpu;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Lowers the OS scheduling priority (raises the niceness) of the calling thread, on Linux, so that a CPU
 * trainer sharing its machine with ingestion and the feature job yields the cores to them when both want
 * them, and takes what they leave. Java has no call for this: the thread's Linux id is read from
 * {@code /proc/thread-self} and {@code renice} is run on it (raising a niceness needs no privilege).
 * Elsewhere, or when that fails, it logs once and does nothing: the trainer then competes as before.
 */
final class ThreadNiceness {
    private static final Logger LOG = LoggerFactory.getLogger(ThreadNiceness.class);
    private static volatile boolean warned;

    private ThreadNiceness() {
    }

    /** Sets the calling thread's niceness to {@code nice} (1..19); 0 does nothing. True if it was set. */
    static boolean apply(int nice) {
        if (nice == 0) return false;
        if (nice < 0 || nice > 19) throw new IllegalArgumentException("niceness " + nice + " outside 0..19");
        String why;
        try {
            Path self = Files.readSymbolicLink(Path.of("/proc/thread-self")); // "<pid>/task/<tid>"
            String tid = self.getFileName().toString();
            Process p = new ProcessBuilder("renice", "-n", Integer.toString(nice), "-p", tid)
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                why = "renice did not finish within 10 s";
            } else if (p.exitValue() != 0) {
                why = "renice exited with " + p.exitValue();
            } else {
                return true;
            }
        } catch (IOException | UnsupportedOperationException e) {
            why = e.toString();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            why = "interrupted";
        }
        if (!warned) {
            warned = true;
            LOG.warn("could not lower the CPU trainer's thread priority (niceness {}): {}; its threads compete for the cores"
                    + " with the rest as before (this needs Linux and the renice command)", nice, why);
        }
        return false;
    }
}
