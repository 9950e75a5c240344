package dev.freshet.ingest;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The shared Criteo sample, found through the system property freshet.shared.dir; tests skip without it. */
final class SampleData {
    static final String NAME = "criteo-kaggle-sample-10k.tsv";
    static final int ROWS = 10_109;
    static final int POSITIVES = 2_198;

    private SampleData() {
    }

    static Path criteoSample() {
        String dir = System.getProperty("freshet.shared.dir");
        Path file = dir == null ? null : Path.of(dir, "data", NAME);
        assumeTrue(file != null && Files.isRegularFile(file),
                "skipped: " + NAME + " not found under the freshet.shared.dir system property (" + dir + ")");
        return file;
    }
}
