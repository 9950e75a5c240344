package dev.freshet.features;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The categorical row mapping and the dense normalisation are part of the data format (a trained model
 * is only valid under them), so exact values for real Criteo rows are pinned here. A change that moves
 * any of them must come with a new layout id.
 */
class FeatureTransformTest {
    private static final FeatureLayout CRITEO = FeatureLayout.criteo(100_000);
    private static final FeatureTransform TRANSFORM = new FeatureTransform(CRITEO);
    private static List<String> sample;

    @BeforeAll
    static void readSample() throws IOException {
        String dir = System.getProperty("freshet.shared.dir");
        Path file = dir == null ? null : Path.of(dir, "data", "criteo-kaggle-sample-10k.tsv");
        sample = file != null && Files.isRegularFile(file) ? Files.readAllLines(file, StandardCharsets.UTF_8) : null;
    }

    @Test
    void criteoLayoutIdIsStable() {
        assertEquals(6294102277999696833L, CRITEO.id());
    }

    @Test
    void pinsRowsAndDenseValuesOfTheFirstSampleLine() {
        check(1,
                new float[]{0.6931472f, 0.6931472f, 1.7917595f, 0.0f, 7.2320104f, 1.609438f, 2.7725887f, 1.0986123f, 5.2040067f,
                        0.6931472f, 1.0986123f, 0.0f, 1.0986123f},
                new int[]{7583, 90905, 77301, 54365, 92587, 62809, 97486, 23176, 25324, 51477, 78885, 32394, 38362, 83508, 21655,
                        76908, 28522, 39663, 6106, 31711, 13026, 10651, 51494, 44950, 40387, 72490});
    }

    @Test
    void pinsRowsAndDenseValuesOfTheThirdSampleLine() {
        check(3,
                new float[]{1.0986123f, 0.0f, 0.6931472f, 2.7080503f, 6.64379f, 4.4998097f, 1.609438f, 1.0986123f, 5.5053315f,
                        0.6931472f, 1.3862944f, 1.3862944f, 3.8286414f},
                new int[]{65493, 21685, 23330, 83955, 92587, 62809, 26997, 18671, 25324, 94650, 69015, 4339, 18578, 2165, 61760,
                        78534, 71490, 53020, 84324, 49886, 68530, 51561, 51494, 74019, 7514, 95078});
    }

    @Test
    void pinsRowsAndDenseValuesOfTheLastSampleLine() {
        check(10_109,
                new float[]{0.0f, 2.6390574f, 3.0445225f, 2.1972246f, 6.4473057f, 4.1743875f, 1.9459101f, 2.7725887f, 4.882802f,
                        0.0f, 1.3862944f, 0.0f, 2.6390574f},
                new int[]{27935, 56061, 43304, 54061, 92587, 62809, 46278, 18671, 25324, 17844, 52113, 3523, 80604, 40225, 25515,
                        36164, 34354, 97882, 6106, 99831, 84869, 47467, 58638, 48548, 42223, 84520});
    }

    @Test
    void everySampleRowLandsInItsTableAndEveryDenseValueIsLog1pOfTheClampedCount() {
        assumeTrue(sample != null, "skipped: ../shared/data/criteo-kaggle-sample-10k.tsv not found (system property freshet.shared.dir)");
        int negatives = 0;
        for (String line : sample) {
            String[] f = line.split("\t", -1);
            for (int i = 0; i < 13; i++) {
                String v = f[1 + i];
                if (v.isEmpty()) continue;
                long raw = Long.parseLong(v);
                if (raw < 0) negatives++;
                float expected = (float) Math.min(20.0, Math.log1p(Math.max(raw, 0)));
                assertEquals(expected, TRANSFORM.dense(i, raw), 0f, "I" + (i + 1) + " = " + v);
            }
            for (int t = 0; t < 26; t++) {
                int row = TRANSFORM.row(t, f[14 + t].isEmpty() ? null : f[14 + t]);
                if (row < 0 || row >= 100_000) throw new AssertionError("row " + row + " out of [0, 100000) for C" + (t + 1));
            }
        }
        assertNotEquals(0, negatives, "the sample has negative counts (I2), which must clamp to 0");
    }

    @Test
    void sameValueMapsToDifferentRowsInDifferentTablesAndMissingIsItsOwnToken() {
        assertEquals(TRANSFORM.row(4, "25c83c98"), TRANSFORM.row(4, new StringBuilder("25c83c98")), "CharSequence kind does not matter");
        assertNotEquals(TRANSFORM.row(0, "25c83c98"), TRANSFORM.row(1, "25c83c98"));
        assertNotEquals(TRANSFORM.row(0, null), TRANSFORM.row(0, ""), "missing is not the empty string");
        assertEquals(TRANSFORM.row(7, null), TRANSFORM.row(7, null));
    }

    @Test
    void denseClipsLargeCountsAndKeepsNumericColumnsAsGiven() {
        assertEquals(20f, TRANSFORM.dense(0, Math.exp(25)), 0f);
        assertEquals(0f, TRANSFORM.dense(0, -2), 0f);
        assertEquals(0f, TRANSFORM.dense(0, Double.NaN), 0f);
        FeatureTransform custom = new FeatureTransform(FeatureLayout.parse("user:categorical:1000,item:categorical:7,price:numeric", 5));
        assertEquals(-3.5f, custom.dense(0, -3.5), 0f);
        assertEquals(-20f, custom.dense(0, -1e6), 0f);
        assertEquals(422, custom.row(0, "alice"));
        assertEquals(3, custom.row(1, "alice"));
        assertEquals(968, custom.row(0, null));
    }

    @Test
    void hashSeedRemapsRows() {
        FeatureLayout reseeded = new FeatureLayout(CRITEO.name(), CRITEO.columns(), 12345L, CRITEO.denseClip());
        FeatureTransform other = new FeatureTransform(reseeded);
        int same = 0;
        for (int i = 0; i < 100; i++) {
            if (other.row(2, "v" + i) == TRANSFORM.row(2, "v" + i)) same++;
        }
        assertEquals(0, same, "a different seed moves each of these 100 values (chance of a collision per value: 1e-5)");
        assertNotEquals(CRITEO.id(), reseeded.id());
    }

    private static void check(int lineNumber, float[] dense, int[] rows) {
        assumeTrue(sample != null, "skipped: ../shared/data/criteo-kaggle-sample-10k.tsv not found (system property freshet.shared.dir)");
        String[] f = sample.get(lineNumber - 1).split("\t", -1);
        assertEquals(40, f.length);
        float[] gotDense = new float[13];
        for (int i = 0; i < 13; i++) {
            gotDense[i] = TRANSFORM.dense(i, f[1 + i].isEmpty() ? Double.NaN : Double.parseDouble(f[1 + i]));
        }
        int[] gotRows = new int[26];
        for (int t = 0; t < 26; t++) {
            gotRows[t] = TRANSFORM.row(t, f[14 + t].isEmpty() ? null : f[14 + t]);
        }
        assertArrayEquals(dense, gotDense, "dense of line " + lineNumber);
        assertArrayEquals(rows, gotRows, "rows of line " + lineNumber);
    }
}
