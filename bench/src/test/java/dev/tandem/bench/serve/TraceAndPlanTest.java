package dev.tandem.bench.serve;

import dev.tandem.core.TandemException;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.StringReader;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class TraceAndPlanTest {
    private static final double EPS = 1e-9;
    /** Arrivals at 0, 1, 3 and 4 s: mean rate 3/4 req/s, wrap period 4 + 4/3 s. */
    private static final String CSV = """
            TIMESTAMP,ContextTokens,GeneratedTokens
            2023-11-16 18:00:01.0000000,200,20
            2023-11-16 18:00:00.0000000,100,10
            2023-11-16 18:00:03.0000000,300,30
            2023-11-16 18:00:04.0000000,400,40
            """;

    private static Trace trace() throws IOException {
        return Trace.parse(new BufferedReader(new StringReader(CSV)), "hand.csv");
    }

    @Test
    void shouldParseTimestampsRelativeToTheFirstArrivalInTimeOrder() throws IOException {
        Trace trace = trace();
        assertArrayEquals(new double[] {0, 1, 3, 4}, trace.arrivalSeconds(), EPS);
        assertArrayEquals(new int[] {100, 200, 300, 400}, trace.contextTokens());
        assertArrayEquals(new int[] {10, 20, 30, 40}, trace.generatedTokens());
        assertEquals(0.75, trace.meanRate(), EPS);
        assertEquals(4 + 4.0 / 3, trace.wrappedArrival(4), EPS);
        assertEquals(4 + 4.0 / 3 + 1, trace.wrappedArrival(5), EPS);
    }

    @Test
    void shouldKeepTheTracesMicrosecondsAndAcceptPlainSeconds() throws IOException {
        Trace trace = Trace.parse(new BufferedReader(new StringReader("""
                TIMESTAMP,ContextTokens,GeneratedTokens
                2023-11-16 18:17:03.9799600,4808,10
                2023-11-16 18:17:04.0319600,3180,8
                """)), "t");
        assertEquals(0.052, trace.arrivalSeconds()[1], 1e-6);
        Trace seconds = Trace.parse(new BufferedReader(new StringReader("TIMESTAMP,ContextTokens,GeneratedTokens\n2.5,1,1\n4,2,2\n")), "s");
        assertArrayEquals(new double[] {0, 1.5}, seconds.arrivalSeconds(), EPS);
    }

    @Test
    void shouldRefuseAFileWithoutTheHeader() {
        assertThrows(TandemException.class,
                () -> Trace.parse(new BufferedReader(new StringReader("a,b,c\n1,2,3\n")), "bad.csv"));
    }

    @Test
    void shouldBundleBothAzureTraces() {
        Trace code = Trace.load("code");
        Trace conv = Trace.load("conv");
        assertEquals(8819, code.size()); // SOURCE.md's row counts
        assertEquals(19366, conv.size());
        assertEquals(4808, code.contextTokens()[0]);
        assertEquals(10, code.generatedTokens()[0]);
    }

    @Test
    void shouldStretchTheSlicesGapsSoThatTheRateIsExact() throws IOException {
        // 4 requests at 2 req/s: 4 gaps (up to the wrapped arrival at 16/3 s) become 2 s, scale 0.375
        List<PlannedRequest> plan = ReplayPlan.plan(trace(), 2, 2, 0, LengthLimits.NONE);
        assertArrayEquals(new double[] {0, 0.375, 1.125, 1.5},
                plan.stream().mapToDouble(PlannedRequest::sendAtSeconds).toArray(), EPS);
        assertArrayEquals(new int[] {100, 200, 300, 400}, plan.stream().mapToInt(PlannedRequest::promptTokens).toArray());
        assertArrayEquals(new int[] {10, 20, 30, 40}, plan.stream().mapToInt(PlannedRequest::outputTokens).toArray());
    }

    @Test
    void shouldStartAtTheOffsetAndWrapAroundTheEnd() throws IOException {
        // from 2.5 s: arrivals at 3, 4, then the wrapped 16/3; 3 gaps up to 19/3 s stretched to 3 s: scale 0.9
        List<PlannedRequest> plan = ReplayPlan.plan(trace(), 1, 3, 2.5, LengthLimits.NONE);
        assertArrayEquals(new double[] {0, 0.9, (16.0 / 3 - 3) * 0.9},
                plan.stream().mapToDouble(PlannedRequest::sendAtSeconds).toArray(), EPS);
        assertArrayEquals(new int[] {300, 400, 100}, plan.stream().mapToInt(PlannedRequest::promptTokens).toArray());
    }

    @Test
    void shouldReplayAtTheTracesOwnRateUnscaledWhenNoRateIsGiven() throws IOException {
        List<PlannedRequest> plan = ReplayPlan.plan(trace(), Double.NaN, 4, 0, LengthLimits.NONE);
        assertArrayEquals(new double[] {0, 1, 3}, plan.stream().mapToDouble(PlannedRequest::sendAtSeconds).toArray(), EPS);
    }

    @Test
    void shouldClipThenScaleLengthsIntoTheContext() {
        LengthLimits scale = new LengthLimits(100, 0, 0, true);
        assertArrayEquals(new int[] {75, 25}, scale.apply(150, 50));
        assertArrayEquals(new int[] {99, 1}, scale.apply(1000, 1)); // the output never drops to 0
        assertArrayEquals(new int[] {60, 40}, scale.apply(60, 40)); // fits: untouched
        assertArrayEquals(new int[] {512, 10}, new LengthLimits(0, 512, 16, false).apply(4808, 10));
        assertArrayEquals(new int[] {1, 1}, new LengthLimits(0, 512, 16, false).apply(0, 0));
        // clipped to 80 + 40 = 120, then × 100/120
        assertArrayEquals(new int[] {66, 33}, new LengthLimits(100, 80, 0, true).apply(200, 40));
        assertEquals(true, new LengthLimits(100, 0, 0, false).exceedsContext(90, 11));
    }
}
