package dev.tandem.sim;

import dev.tandem.bench.serve.PlannedRequest;
import dev.tandem.bench.serve.RequestOutcome;
import dev.tandem.core.TandemException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The simulator against cases computed by hand from the profile: prefill 10 + 0.1·n ms, a decode
 * step 5 + 1·b ms, a split request's KV 2 + 0.01·p ms after its prefill.
 */
class ClusterSimulationTest {
    private static final double EPS = 1e-9;
    private static final MachineProfile PROFILE = new MachineProfile("hand", "by hand", 10, 0.1, 5, 1, 0, 2, 0.01,
            150, 700, 500, 100, 3.6);

    @TempDir
    Path temp;

    private static SimulatedCluster cluster(int tokenKv, int maxQueued) {
        return new SimulatedCluster(1, 1, 10_000, tokenKv, 4096, maxQueued);
    }

    /** {@code n} requests in bursts: three in ten at the same time as the last, the rest up to {@code maxGapS} later. */
    private static List<PlannedRequest> randomPlan(long seed, int n, double maxGapS, int maxPrompt, int maxOutput) {
        java.util.SplittableRandom random = new java.util.SplittableRandom(seed);
        List<PlannedRequest> plan = new java.util.ArrayList<>();
        double at = 0;
        for (int i = 0; i < n; i++) {
            at += random.nextDouble() < 0.3 ? 0 : random.nextDouble(0, maxGapS);
            plan.add(new PlannedRequest(i, at, 1 + random.nextInt(maxPrompt), 1 + random.nextInt(maxOutput)));
        }
        return plan;
    }

    /** Request by request, the same outcome: error, TTFT, every gap, E2E and tokens. */
    private static void assertSameOutcomes(ClusterSimulation.Result expected, ClusterSimulation.Result actual) {
        for (int i = 0; i < expected.outcomes().size(); i++) {
            RequestOutcome a = expected.outcomes().get(i);
            RequestOutcome b = actual.outcomes().get(i);
            assertEquals(a.error(), b.error(), "request " + i);
            if (a.ok()) {
                assertEquals(a.ttftMs(), b.ttftMs(), 1e-6, "request " + i);
                assertEquals(a.e2eMs(), b.e2eMs(), 1e-6, "request " + i);
                assertArrayEquals(a.tbtMs(), b.tbtMs(), 1e-6, "request " + i);
                assertEquals(a.outputTokens(), b.outputTokens(), "request " + i);
            }
        }
        assertEquals(expected.wallMs(), actual.wallMs(), 1e-6);
        assertEquals(expected.token().decodeMs(), actual.token().decodeMs(), 1e-6);
    }

    @Test
    void shouldLendThePromptMachineToTheMixedPoolWhenTheTokenSideIsFull() {
        // the token machine holds one request of 105; the second runs whole on the prompt machine, after the
        // first's prefill there: 20-40, then its own decode steps beside nothing else
        ClusterSimulation.Result r = new ClusterSimulation(cluster(150, 10), PROFILE).run(List.of(
                new PlannedRequest(0, 0, 100, 5), new PlannedRequest(1, 0, 100, 5)));
        RequestOutcome second = r.outcomes().get(1);
        assertEquals(40, second.ttftMs(), EPS);
        assertArrayEquals(new double[] {6, 6, 6, 6}, second.tbtMs(), EPS);
        assertEquals(64, second.e2eMs(), EPS);
    }

    @Test
    void shouldTimeOneSplitRequestAsTheProfileSays() {
        ClusterSimulation.Result r = new ClusterSimulation(cluster(10_000, 10), PROFILE)
                .run(List.of(new PlannedRequest(0, 0, 100, 5)));
        RequestOutcome o = r.outcomes().getFirst();
        assertNull(o.error());
        assertEquals(20, o.ttftMs(), EPS, "prefill of 100 tokens: 10 + 0.1·100");
        // KV lands at 23, one-sequence steps of 6 ms: tokens at 29, 35, 41, 47
        assertArrayEquals(new double[] {9, 6, 6, 6}, o.tbtMs(), EPS);
        assertEquals(47, o.e2eMs(), EPS);
        assertEquals(47, r.wallMs(), EPS);
        assertEquals(20, r.prompt().prefillMs(), EPS);
        assertEquals(24, r.token().decodeMs(), EPS);
        // 20 ms at 700 W and 27 idle at 100 W; 24 ms at 500 W and 23 idle at 100 W
        assertEquals(16.7, r.prompt().energyJ(), 1e-9);
        assertEquals(14.3, r.token().energyJ(), 1e-9);
        assertEquals(3.6 * 47 / 3.6e6, r.prompt().cost(), 1e-15);
        assertEquals(24.0 / 47, r.token().utilization(r.wallMs()), EPS);
        // one power sample (the run is shorter than a second): the pool's energy over its 47 ms
        assertArrayEquals(new double[] {16.7 / 0.047}, r.prompt().powerW(), 1e-9);
        assertArrayEquals(new double[] {14.3 / 0.047}, r.token().powerW(), 1e-9);
    }

    @Test
    void shouldBatchPromptsWithinTheTokenBudgetAndDecodeSideBySide() {
        // two 100-token prompts at once; a step takes 150 prompt tokens at most, so one each
        ClusterSimulation.Result r = new ClusterSimulation(cluster(10_000, 10), PROFILE)
                .run(List.of(new PlannedRequest(0, 0, 100, 5), new PlannedRequest(1, 0, 100, 5)));
        RequestOutcome first = r.outcomes().get(0);
        RequestOutcome second = r.outcomes().get(1);
        assertEquals(20, first.ttftMs(), EPS);
        assertEquals(40, second.ttftMs(), EPS);
        assertEquals(47, first.e2eMs(), EPS);
        // its KV lands at 43 during the step 41-47; then alone: tokens at 53, 59, 65, 71
        assertArrayEquals(new double[] {13, 6, 6, 6}, second.tbtMs(), EPS);
        assertEquals(71, second.e2eMs(), EPS);
    }

    @Test
    void shouldChunkPromptsWithinTheTokenBudget() {
        // a token budget of 150: the 400-token prompt takes chunks of 150, 150 and 100. The second request
        // arrives at 30 and runs whole on the same prompt machine (the first booked the token machine's
        // 410 positions but 7), so the third step also takes its first 50 tokens: 0-25, 25-50, 50-75 (150
        // tokens each), then its last 50 alone, 75-90
        ClusterSimulation.Result r = new ClusterSimulation(cluster(410, 10), PROFILE).run(List.of(
                new PlannedRequest(0, 0, 400, 3), new PlannedRequest(1, 0.030, 100, 3)));
        RequestOutcome first = r.outcomes().get(0);
        RequestOutcome second = r.outcomes().get(1);
        assertEquals(75, first.ttftMs(), EPS);
        // its KV lands at 75 + 2 + 4 = 81 on the token machine: steps of 6 ms, tokens at 87, 93
        assertArrayEquals(new double[] {12, 6}, first.tbtMs(), EPS);
        assertEquals(90 - 30, second.ttftMs(), EPS);
        assertArrayEquals(new double[] {6, 6}, second.tbtMs(), EPS); // alone on the prompt machine
    }

    @Test
    void shouldRunStepsAsOneEventWhereBlocksRunShortAndSequencesArePreempted() {
        // short requests on token machines of 13 blocks (208 positions): the policy books 200 tokens a machine,
        // the blocks round every sequence up, so runs are cut where blocks run out and sequences are preempted
        MachineProfile profile = new MachineProfile("ctx", "", 10, 0.1, 5, 1, 0.002, 2, 0.01, 64, 0, 0, 0, 0);
        List<PlannedRequest> plan = randomPlan(3, 400, 0.01, 20, 40);
        SimulatedCluster cluster = new SimulatedCluster(1, 2, 2000, 200, 600, SimulatedCluster.UNBOUNDED);
        ClusterSimulation.Result stepwise = new ClusterSimulation(cluster, profile).stepRuns(false).run(plan);
        assertSameOutcomes(stepwise, new ClusterSimulation(cluster, profile).run(plan));
        for (int i = 0; i < plan.size(); i++) {
            assertEquals(plan.get(i).outputTokens(), stepwise.outcomes().get(i).outputTokens(), "request " + i);
        }
    }

    @Test
    void shouldWaitForKvRoomInArrivalOrderAndTurnAwayPastTheQueueLimit() {
        // one token machine of 150 positions and no prompt machine: one request of 105 at a time, each run
        // whole there (prefill 20 ms, then 6 ms steps); one may wait, the third is a 429
        ClusterSimulation.Result r = new ClusterSimulation(new SimulatedCluster(0, 1, 1, 150, 4096, 1), PROFILE).run(
                List.of(new PlannedRequest(0, 0, 100, 5), new PlannedRequest(1, 0, 100, 5),
                        new PlannedRequest(2, 0, 100, 5)));
        assertEquals(44, r.outcomes().get(0).e2eMs(), EPS);
        RequestOutcome waited = r.outcomes().get(1);
        assertEquals(44 + 20, waited.ttftMs(), EPS, "routed when the first ended at 44, then prefilled");
        assertEquals(44 + 44, waited.e2eMs(), EPS);
        assertEquals(RequestOutcome.ERROR_429, r.outcomes().get(2).error());
    }

    @Test
    void shouldRefuseAPromptNoMachineCanHold() {
        ClusterSimulation.Result r = new ClusterSimulation(new SimulatedCluster(1, 1, 64, 64, 4096,
                SimulatedCluster.UNBOUNDED), PROFILE).run(List.of(new PlannedRequest(0, 0, 64, 5)));
        assertEquals("http_400", r.outcomes().getFirst().error());
    }

    @Test
    void shouldRunAMixedPoolMachineThatDecodesWhatItPrefilled() {
        // no token machine: the prompt machine is lent to the mixed pool and runs the whole request
        ClusterSimulation.Result r = new ClusterSimulation(new SimulatedCluster(1, 0, 10_000, 1, 4096,
                SimulatedCluster.UNBOUNDED), PROFILE).run(List.of(new PlannedRequest(0, 0, 100, 3)));
        RequestOutcome o = r.outcomes().getFirst();
        assertEquals(20, o.ttftMs(), EPS);
        assertArrayEquals(new double[] {6, 6}, o.tbtMs(), EPS, "no KV transfer: it decodes where it is");
        assertEquals(32, o.e2eMs(), EPS);
    }

    @Test
    void shouldRunStepsAsOneEventWithTheSameTimesAsStepByStep() {
        // decode steps that grow with the context, bursts of arrivals, every pool kind: runs and single steps agree
        MachineProfile profile = new MachineProfile("ctx", "", 10, 0.1, 5, 1, 0.002, 2, 0.01, 400, 0, 0, 0, 0);
        List<PlannedRequest> plan = randomPlan(12, 300, 0.08, 300, 120);
        SimulatedCluster cluster = new SimulatedCluster(2, 3, 2000, 3000, 600, 50);
        List<String> stepwiseDecisions = new java.util.ArrayList<>();
        List<String> runDecisions = new java.util.ArrayList<>();
        ClusterSimulation.Result stepwise = new ClusterSimulation(cluster, profile).stepRuns(false)
                .decisions(stepwiseDecisions::add).run(plan);
        ClusterSimulation.Result runs = new ClusterSimulation(cluster, profile).decisions(runDecisions::add).run(plan);
        assertEquals(stepwiseDecisions, runDecisions);
        assertSameOutcomes(stepwise, runs);
        assertArrayEquals(stepwise.token().powerW(), runs.token().powerW(), 1e-6);
        assertTrue(runDecisions.stream().anyMatch(d -> d.contains("ON_")), "the mixed pool took part");

        List<String> progress = new java.util.ArrayList<>();
        new ClusterSimulation(cluster, profile).stepRuns(false).progress(progress::add, 0).run(plan); // every 256 events
        assertTrue(!progress.isEmpty() && progress.getLast().matches("\\d+ of \\d+ s of arrivals simulated, \\d+ of 300"
                + " requests ended"), progress.toString());
    }

    @Test
    void shouldTallyWhatEveryOutcomeGivesWithinTheHistogramsPrecision() {
        // the same random plan kept request by request and tallied: counts exact, figures within 0.1 %, never below
        MachineProfile profile = new MachineProfile("ctx", "", 10, 0.1, 5, 1, 0.002, 2, 0.01, 400, 0, 0, 0, 0);
        List<PlannedRequest> plan = randomPlan(5, 2_000, 0.03, 300, 120);
        SimulatedCluster cluster = new SimulatedCluster(2, 3, 2000, 3000, 600, 20); // some turned away
        ClusterSimulation.Result every = new ClusterSimulation(cluster, profile).run(plan);
        dev.tandem.bench.serve.UnloadedBaseline baseline = new dev.tandem.bench.serve.UnloadedBaseline(10, 0.1, 6, 10.1,
                List.of());
        dev.tandem.bench.serve.OutcomeTally tally = new dev.tandem.bench.serve.OutcomeTally(baseline);
        ClusterSimulation.Result tallied = new ClusterSimulation(cluster, profile).run(plan, tally);
        dev.tandem.bench.serve.RateReport exact = dev.tandem.bench.serve.RateReport.of(1, 1, every.outcomes(), baseline);
        dev.tandem.bench.serve.RateReport fromTally = dev.tandem.bench.serve.RateReport.of(1, 1, tally);
        assertTrue(tallied.outcomes().isEmpty());
        assertTrue(exact.errors().getOrDefault("http_429", 0) > 0, "some were turned away: " + exact.errors());
        assertEquals(exact.requests(), fromTally.requests());
        assertEquals(exact.completed(), fromTally.completed());
        assertEquals(exact.errors(), fromTally.errors());
        assertEquals(exact.wallSeconds(), fromTally.wallSeconds(), 1e-9);
        assertEquals(exact.outputTokensPerSecond(), fromTally.outputTokensPerSecond(), 1e-9);
        assertEquals(every.wallMs(), tallied.wallMs(), 1e-9);
        for (var pair : List.of(List.of(exact.ttftMs(), fromTally.ttftMs()), List.of(exact.tbtMs(), fromTally.tbtMs()),
                List.of(exact.e2eMs(), fromTally.e2eMs()))) {
            double[] e = {pair.get(0).p50(), pair.get(0).p90(), pair.get(0).p99()};
            double[] t = {pair.get(1).p50(), pair.get(1).p90(), pair.get(1).p99()};
            for (int i = 0; i < 3; i++) {
                assertTrue(t[i] >= e[i] * (1 - 1e-12) && t[i] <= e[i] * 1.001, pair + " percentile " + i);
            }
        }
        for (int i = 0; i < exact.slo().size(); i++) {
            double e = exact.slo().get(i).slowdown();
            double t = fromTally.slo().get(i).slowdown();
            assertTrue(e == t || t >= e * (1 - 1e-12) && t <= e * 1.001, exact.slo().get(i) + " against " + t);
        }
    }

    @Test
    void shouldCapTokenMachinesToStayUnderThePowerBudget() {
        // 1000 W a step, capped 600 W at 2x the prefill time; a budget of 1500 W over two token machines, each
        // running a whole 100-token request (prefill 20 ms uncapped). Both start at 0: the first fits uncapped,
        // the second would make 2000 W, so the token pool is capped and it runs at 600 W for 40 ms. At 50 ms a
        // third finds the cluster idle (1000 W under 95 % of the budget): uncapped again.
        MachineProfile capped = new MachineProfile("cap", "", 10, 0.1, 5, 1, 0, 2, 0.01, 150, 1000, 1000, 0, 0, 0,
                600, 2, 1.5);
        SimulatedCluster cluster = new SimulatedCluster(0, 2, 1, 10_000, 4096, SimulatedCluster.UNBOUNDED, 1500);
        ClusterSimulation.Result r = new ClusterSimulation(cluster, capped).run(List.of(
                new PlannedRequest(0, 0, 100, 1), new PlannedRequest(1, 0, 100, 1), new PlannedRequest(2, 0.050, 100, 1)));
        assertEquals(20, r.outcomes().get(0).ttftMs(), EPS);
        assertEquals(40, r.outcomes().get(1).ttftMs(), EPS);
        assertEquals(20, r.outcomes().get(2).ttftMs(), EPS);
        assertEquals(20 + 24 + 20, r.token().energyJ(), 1e-9, "20 ms at 1000 W, 40 at 600, 20 at 1000");
        assertEquals(40.0 / 80, r.token().cappedShare(), EPS);
        ClusterSimulation.Result unbounded = new ClusterSimulation(cluster.withPowerBudget(0), capped).run(List.of(
                new PlannedRequest(0, 0, 100, 1), new PlannedRequest(1, 0, 100, 1)));
        assertEquals(20, unbounded.outcomes().get(1).ttftMs(), EPS, "no budget: no cap");
    }

    @Test
    void shouldCostAMixedStepAsAPrefillOfAllItsTokensWhereTheProfileSaysSo() {
        // splitwise-sim's model: a step with prompt and decode tokens takes 1.1 × a prefill of them all
        MachineProfile splitwiseSim = new MachineProfile("sim", "", 10, 0.1, 5, 1, 0, 2, 0.01, 150, 0, 0, 0, 0, 1.1);
        ClusterSimulation.Result r = new ClusterSimulation(new SimulatedCluster(1, 0, 10_000, 1, 4096,
                SimulatedCluster.UNBOUNDED), splitwiseSim).run(List.of(new PlannedRequest(0, 0, 100, 4),
                new PlannedRequest(1, 0.021, 50, 2)));
        RequestOutcome first = r.outcomes().get(0);
        // alone: prefill 20 (0-20), a decode step 6 (20-26); then the second prompt beside its decode:
        // 1.1 · (10 + 0.1 · (50 + 1)) = 16.61 (26-42.61), then both decode: 7 (42.61-49.61)
        assertEquals(20, first.ttftMs(), EPS);
        assertArrayEquals(new double[] {6, 16.61, 7}, first.tbtMs(), 1e-9);
        assertEquals(42.61 - 21, r.outcomes().get(1).ttftMs(), 1e-9);
    }

    @Test
    void shouldNameTheFileLineAndFieldOfABadProfile() throws IOException {
        Path bad = temp.resolve("h200.properties");
        Files.writeString(bad, "name = h200\n# the prefill\nprefill.per_token_ms = 0.07\ndecode.intercept_ms = fast\n");
        TandemException e = assertThrows(TandemException.class, () -> MachineProfile.load(bad));
        assertTrue(e.getMessage().startsWith(bad + ":4: 'decode.intercept_ms'"), e.getMessage());

        Files.writeString(bad, "name = h200\n");
        e = assertThrows(TandemException.class, () -> MachineProfile.load(bad));
        assertTrue(e.getMessage().contains("'prefill.per_token_ms' must be given"), e.getMessage());

        Path cluster = temp.resolve("cluster.properties");
        Files.writeString(cluster, "prompt.nodes = 2\ntoken.nodes = -1\n");
        e = assertThrows(TandemException.class, () -> SimulatedCluster.load(cluster));
        assertTrue(e.getMessage().startsWith(cluster + ":2: 'token.nodes'"), e.getMessage());
    }

    @Test
    void shouldReadAProfileAndACompactCluster() throws IOException {
        Path profile = temp.resolve("p.properties");
        Files.writeString(profile, "name = x\nprefill.per_token_ms = 0.5\ndecode.intercept_ms = 7\nmax_batch_tokens = 64\n");
        MachineProfile p = MachineProfile.load(profile);
        assertEquals(0.5 * 10, p.prefillMs(10), EPS);
        assertEquals(7 + 0, p.decodeStepMs(3, 100), EPS);
        assertEquals(64, p.maxBatchTokens());
        Path cluster = temp.resolve("c.properties");
        Files.writeString(cluster, "prompt.nodes = 3000\ntoken.nodes = 1000\ntoken.kv_tokens = 262144\n");
        assertEquals(new SimulatedCluster(3000, 1000, 8192, 262144, 4096, SimulatedCluster.UNBOUNDED),
                SimulatedCluster.load(cluster));
    }
}
