package dev.tandem.bench.serve;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StatisticsTest {
    private static final double EPS = 1e-9;

    @Test
    void shouldTakeNearestRankPercentiles() {
        double[] oneToTen = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
        assertEquals(5, Percentiles.of(oneToTen, 0.5));
        assertEquals(9, Percentiles.of(oneToTen, 0.9));
        assertEquals(10, Percentiles.of(oneToTen, 0.99));
        assertEquals(7, Percentiles.of(new double[] {7}, 0.5));
        assertTrue(Double.isNaN(Percentiles.of(new double[0], 0.5)));
        assertEquals(Double.POSITIVE_INFINITY, Percentiles.of(new double[] {1, Double.POSITIVE_INFINITY}, 0.9));
    }

    @Test
    void shouldFitALeastSquaresLine() {
        // hand: mean x 2.5, mean y 6.25, Sxx 5, Sxy 11.5
        assertArrayEquals(new double[] {0.5, 2.3}, UnloadedBaseline.leastSquares(new double[] {1, 2, 3, 4},
                new double[] {3, 5, 7, 10}), EPS);
        assertArrayEquals(new double[] {4, 0}, UnloadedBaseline.leastSquares(new double[] {5, 5}, new double[] {3, 5}), EPS);
    }

    @Test
    void shouldFitTheBaselineAndPredictE2e(@TempDir Path dir) {
        // TTFT = 10 + 0.5 p exactly; gaps 4,5,6,5,100: median 5
        List<RequestOutcome> outcomes = List.of(
                ok(10, 15, new double[] {4, 5, 6}),
                ok(30, 25, new double[] {5, 100}),
                RequestOutcome.failed(new PlannedRequest(2, 0, 50, 3), 0, 503, RequestOutcome.ERROR_503, "busy"));
        UnloadedBaseline baseline = UnloadedBaseline.fit(outcomes);
        assertEquals(10, baseline.ttftInterceptMs(), EPS);
        assertEquals(0.5, baseline.ttftPerTokenMs(), EPS);
        assertEquals(5, baseline.tbtMs(), EPS);
        assertEquals(20 + 10 * 5, baseline.predictedE2eMs(20, 11), EPS);
        assertEquals(2, baseline.samples().size());
        Path file = dir.resolve("baseline.json");
        baseline.save(file);
        assertEquals(baseline, UnloadedBaseline.load(file));
    }

    @Test
    void shouldJudgeEachSloByThePercentileOfSlowdowns() {
        double[] ttft = {1, 1, 1, 1, 1, 1, 1, 1, 2.5, 7}; // P50 1 ≤ 2, P90 2.5 ≤ 3, P99 7 > 6
        double[] tbt = filled(10, 1.2);                    // all within 1.25 / 1.5 / 5
        double[] e2e = filled(10, 1.3);                    // P50 1.3 > 1.25
        List<SloCheck> checks = SloAttainment.evaluate(ttft, tbt, e2e);
        assertEquals(List.of(true, true, false, true, true, true, false, true, true),
                checks.stream().map(SloCheck::pass).toList());
        assertEquals(7, checks.get(2).slowdown());
        assertEquals(6, checks.get(2).limit());
        assertFalse(SloAttainment.allPass(checks));
        assertTrue(SloAttainment.allPass(SloAttainment.evaluate(filled(10, 1), tbt, filled(10, 1.2))));
    }

    @Test
    void shouldCountFailedRequestsAsMisses() {
        double[] oneFailure = filled(100, 1);
        oneFailure[0] = Double.POSITIVE_INFINITY;
        double[] twoFailures = oneFailure.clone();
        twoFailures[1] = Double.POSITIVE_INFINITY;
        assertTrue(SloAttainment.evaluate(oneFailure, oneFailure, oneFailure).get(2).pass()); // P99 is the 99th of 100
        assertFalse(SloAttainment.evaluate(twoFailures, twoFailures, twoFailures).get(2).pass());
    }

    @Test
    void shouldDivideByTheUnloadedPrediction() {
        UnloadedBaseline baseline = new UnloadedBaseline(10, 0, 5, 10, List.of());
        RequestOutcome served = new RequestOutcome(new PlannedRequest(0, 0, 8, 3), 0, 200, null, null, 20,
                new double[] {5, 10}, 35, 3);
        RequestOutcome refused = RequestOutcome.failed(new PlannedRequest(1, 0, 8, 3), 0, 429, RequestOutcome.ERROR_429, "");
        RateReport.Slowdowns s = RateReport.slowdowns(List.of(served, refused), baseline);
        assertArrayEquals(new double[] {2, Double.POSITIVE_INFINITY}, s.ttft(), EPS);
        assertArrayEquals(new double[] {1, 2, Double.POSITIVE_INFINITY}, s.tbt(), EPS);
        assertArrayEquals(new double[] {35.0 / 20, Double.POSITIVE_INFINITY}, s.e2e(), EPS); // 10 + 2·5
    }

    private static RequestOutcome ok(int prompt, double ttft, double[] gaps) {
        return new RequestOutcome(new PlannedRequest(0, 0, prompt, gaps.length + 1), 0, 200, null, null, ttft, gaps,
                ttft + Arrays.stream(gaps).sum(), gaps.length + 1);
    }

    private static double[] filled(int n, double v) {
        double[] a = new double[n];
        Arrays.fill(a, v);
        return a;
    }
}
