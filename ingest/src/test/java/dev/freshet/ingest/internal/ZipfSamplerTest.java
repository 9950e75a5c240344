package dev.freshet.ingest.internal;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ZipfSamplerTest {

    @Test
    void frequenciesMatchTheZipfPmf() {
        for (double s : new double[]{0.5, 1.0, 1.3}) {
            int n = 50;
            ZipfSampler zipf = new ZipfSampler(n, s);
            SplittableRandom random = new SplittableRandom(17);
            int draws = 200_000;
            long[] counts = new long[n + 1];
            for (int i = 0; i < draws; i++) {
                long k = zipf.sample(random);
                if (k < 1 || k > n) throw new AssertionError("rank " + k + " outside 1.." + n);
                counts[(int) k]++;
            }
            double h = 0;
            for (int k = 1; k <= n; k++) h += Math.pow(k, -s);
            for (int k : new int[]{1, 2, 5, 50}) {
                double p = Math.pow(k, -s) / h;
                assertEquals(p, counts[k] / (double) draws, 4.5 * Math.sqrt(p * (1 - p) / draws), "s=" + s + " rank " + k);
            }
        }
    }

    @Test
    void singleRankAndHugeSupports() {
        SplittableRandom random = new SplittableRandom(1);
        assertEquals(1, new ZipfSampler(1, 1.2).sample(random));
        ZipfSampler huge = new ZipfSampler(1L << 40, 1.05);
        for (int i = 0; i < 1000; i++) {
            long k = huge.sample(random);
            if (k < 1 || k > (1L << 40)) throw new AssertionError("rank " + k);
        }
        assertThrows(IllegalArgumentException.class, () -> new ZipfSampler(0, 1));
        assertThrows(IllegalArgumentException.class, () -> new ZipfSampler(10, 0));
    }
}
