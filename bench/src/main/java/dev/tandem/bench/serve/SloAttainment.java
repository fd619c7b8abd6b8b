package dev.tandem.bench.serve;

import java.util.ArrayList;
import java.util.List;
import java.util.function.DoubleUnaryOperator;

/**
 * Splitwise's SLOs (ISCA 2024, table of slowdown limits): TTFT P50/P90/P99 ≤ 2/3/6×, TBT and E2E P50/P90/P99
 * ≤ 1.25/1.5/5× the unloaded latency of the same request. A run passes when every one of the nine holds.
 */
public final class SloAttainment {
    public static final double[] PERCENTILES = {0.50, 0.90, 0.99};
    public static final double[] TTFT_LIMITS = {2, 3, 6};
    public static final double[] TBT_LIMITS = {1.25, 1.5, 5};
    public static final double[] E2E_LIMITS = {1.25, 1.5, 5};

    private SloAttainment() {
    }

    /** Slowdown arrays may hold +∞ for failed requests: a failure is a miss. */
    public static List<SloCheck> evaluate(double[] ttftSlowdowns, double[] tbtSlowdowns, double[] e2eSlowdowns) {
        return evaluate(percentiles(ttftSlowdowns), percentiles(tbtSlowdowns), percentiles(e2eSlowdowns));
    }

    /** The same checks from each metric's slowdown percentile at q, however kept (a tally's histograms). */
    public static List<SloCheck> evaluate(DoubleUnaryOperator ttft, DoubleUnaryOperator tbt, DoubleUnaryOperator e2e) {
        List<SloCheck> checks = new ArrayList<>(9);
        add(checks, "TTFT", ttft, TTFT_LIMITS);
        add(checks, "TBT", tbt, TBT_LIMITS);
        add(checks, "E2E", e2e, E2E_LIMITS);
        return checks;
    }

    public static boolean allPass(List<SloCheck> checks) {
        return checks.stream().allMatch(SloCheck::pass);
    }

    private static DoubleUnaryOperator percentiles(double[] slowdowns) {
        double[] sorted = slowdowns.clone(); // once for the three percentiles: a simulated TBT holds millions
        java.util.Arrays.sort(sorted);
        return q -> Percentiles.ofSorted(sorted, q);
    }

    private static void add(List<SloCheck> checks, String metric, DoubleUnaryOperator percentile, double[] limits) {
        for (int i = 0; i < PERCENTILES.length; i++) {
            checks.add(new SloCheck(metric, PERCENTILES[i], percentile.applyAsDouble(PERCENTILES[i]), limits[i]));
        }
    }
}
