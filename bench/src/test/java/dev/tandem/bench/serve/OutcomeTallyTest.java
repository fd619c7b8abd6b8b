package dev.tandem.bench.serve;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class OutcomeTallyTest {
    @Test
    void shouldTakeNearestRankPercentilesWithFailuresAsInfinity() {
        // TBT gaps 1..10 ms (10 recorded as four of them) and two failures: 15 values, the two failures last
        OutcomeTally tally = new OutcomeTally(new UnloadedBaseline(0, 1, 2, 1, List.of()));
        for (int gap = 1; gap <= 9; gap++) {
            tally.gaps(gap, 1);
        }
        tally.gaps(10, 4);
        PlannedRequest request = new PlannedRequest(0, 0, 10, 5);
        tally.failed(request, 0, RequestOutcome.ERROR_429, "full");
        tally.failed(request, 3, RequestOutcome.ERROR_429, "full");
        // rank ⌈0.5·15⌉ = 8 → 8 ms; ⌈0.9·15⌉ = 14 → a failure
        assertEquals(8, OutcomeTally.percentile(tally.tbtMs, tally.failures(), 0.5), 8 * 1e-3);
        assertEquals(10, OutcomeTally.percentile(tally.tbtMs, tally.failures(), 13.0 / 15), 10 * 1e-3);
        assertEquals(Double.POSITIVE_INFINITY, OutcomeTally.percentile(tally.tbtMs, tally.failures(), 0.9));
        RateReport report = RateReport.of(1, 10, tally);
        assertEquals(2, report.requests());
        assertEquals(0, report.completed());
        assertEquals(3, report.maxSendLagMs(), 1e-12, "the second failure was sent 3 ms late");
        assertEquals(java.util.Map.of(RequestOutcome.ERROR_429, 2), report.errors());
        // TBT slowdowns are the gaps over the baseline's 2 ms: P50 4×
        assertEquals(4, report.slowdownPercentiles("TBT")[0], 4 * 1e-3);
        assertEquals(Double.NaN, OutcomeTally.percentile(new OutcomeTally(null).ttftMs, 0, 0.5));
    }
}
