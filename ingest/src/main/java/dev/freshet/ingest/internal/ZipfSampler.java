package dev.freshet.ingest.internal;

import java.util.SplittableRandom;

/**
 * Draws ranks 1..n with P(k) proportional to 1/k^s in O(1) expected time and no tables, by
 * rejection-inversion: W. Hörmann and G. Derflinger, "Rejection-inversion to generate variates from
 * monotone discrete distributions", ACM TOMACS 6(3), 1996. The structure follows Apache Commons Math's
 * {@code ZipfRejectionInversionSampler}. Works for any s > 0 (s = 1 included) and n up to 2^62.
 */
public final class ZipfSampler {
    private final long n;
    private final double exponent;
    private final double hIntegralX1;
    private final double hIntegralN;
    private final double squeeze;

    public ZipfSampler(long n, double exponent) {
        if (n < 1) throw new IllegalArgumentException("Zipf support size " + n + " must be at least 1");
        if (!(exponent > 0) || Double.isInfinite(exponent)) throw new IllegalArgumentException("Zipf exponent " + exponent + " must be > 0");
        this.n = n;
        this.exponent = exponent;
        this.hIntegralX1 = hIntegral(1.5) - 1.0;
        this.hIntegralN = hIntegral(n + 0.5);
        this.squeeze = 2.0 - hIntegralInverse(hIntegral(2.5) - h(2.0));
    }

    public long sample(SplittableRandom random) {
        while (true) {
            double u = hIntegralN + random.nextDouble() * (hIntegralX1 - hIntegralN);
            double x = hIntegralInverse(u);
            long k = (long) (x + 0.5);
            if (k < 1) {
                k = 1;
            } else if (k > n) {
                k = n;
            }
            // The squeeze accepts most draws without evaluating the integral again.
            if (k - x <= squeeze || u >= hIntegral(k + 0.5) - h(k)) {
                return k;
            }
        }
    }

    public long size() {
        return n;
    }

    /** H(x) = (x^(1-s) - 1) / (1 - s), continuous at s = 1 (log x). */
    private double hIntegral(double x) {
        double logX = Math.log(x);
        return helper2((1.0 - exponent) * logX) * logX;
    }

    private double h(double x) {
        return Math.exp(-exponent * Math.log(x));
    }

    private double hIntegralInverse(double x) {
        double t = x * (1.0 - exponent);
        if (t < -1.0) {
            t = -1.0; // round-off guard at the far end of the support
        }
        return Math.exp(helper1(t) * x);
    }

    /** log(1 + x) / x, accurate near 0. */
    private static double helper1(double x) {
        return Math.abs(x) > 1e-8 ? Math.log1p(x) / x : 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
    }

    /** (exp(x) - 1) / x, accurate near 0. */
    private static double helper2(double x) {
        return Math.abs(x) > 1e-8 ? Math.expm1(x) / x : 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
    }
}
