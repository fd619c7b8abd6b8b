package dev.tandem.bench.serve;

import java.util.Arrays;

/**
 * Nearest-rank percentiles: the q-th percentile of n values is the ⌈q·n⌉-th smallest (1-based), so it is always one
 * of the values and at least a fraction q of them are ≤ it. P50 of 1..10 is 5, P90 is 9, P99 is 10.
 */
public final class Percentiles {
    private Percentiles() {
    }

    /** @param q in (0, 1]; NaN for no values. NaNs sort last, infinities count as values. */
    public static double of(double[] values, double q) {
        if (values.length == 0) {
            return Double.NaN;
        }
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return ofSorted(sorted, q);
    }

    public static double ofSorted(double[] sorted, double q) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int rank = (int) Math.ceil(q * sorted.length - 1e-9); // the epsilon keeps 0.9 · 10 at rank 9
        return sorted[Math.clamp(rank - 1, 0, sorted.length - 1)];
    }
}
