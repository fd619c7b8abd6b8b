package dev.tandem.sim;

import dev.tandem.bench.serve.LengthLimits;
import dev.tandem.bench.serve.RateReport;
import dev.tandem.bench.serve.Trace;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SimulatedServeTest {
    private static final MachineProfile PROFILE = new MachineProfile("hand", "by hand", 10, 0.1, 5, 1, 0, 2, 0.01,
            8192, 700, 500, 100, 0);

    @Test
    void shouldReportWhatTheRequestsTookAloneWhenTheyNeverMeet() throws IOException {
        // three requests a minute apart, 100-token prompts, 5 tokens each: every one as if alone
        Trace trace = Trace.parse(new BufferedReader(new StringReader("""
                TIMESTAMP,ContextTokens,GeneratedTokens
                2023-11-16 18:00:00.0000000,100,5
                2023-11-16 18:01:00.0000000,100,5
                2023-11-16 18:02:00.0000000,100,5
                """)), "three");
        List<String> log = new ArrayList<>();
        SimulatedServe.Run run = SimulatedServe.run(trace, new double[] {Double.NaN}, 180, 0, LengthLimits.NONE,
                new SimulatedCluster(1, 1, 10_000, 10_000, 4096, SimulatedCluster.UNBOUNDED), PROFILE, 4, log::add);
        RateReport rate = run.report().rates().getFirst();
        assertEquals(3, rate.completed());
        // prefill 10 + 0.1·100 = 20 ms; KV lands 3 ms later; steps of 6 ms: tokens at 29, 35, 41, 47
        assertEquals(20, rate.ttftMs().p50(), 1e-9);
        assertEquals(47, rate.e2eMs().p50(), 1e-9);
        assertEquals(6, rate.tbtMs().p50(), 1e-9);
        assertEquals(20, run.report().baseline().ttftInterceptMs() + 100 * run.report().baseline().ttftPerTokenMs(),
                1e-6, "the baseline is the same requests alone");
        assertTrue(rate.sloPass(), "alone, every slowdown is 1: " + rate.slo());
        assertEquals(1, log.size(), log.toString());
        assertTrue(run.usageMarkdown().contains("| rate/s | simulated s |"), run.usageMarkdown());
    }
}
