package dev.tandem.sim;

import dev.tandem.bench.serve.LengthLimits;
import dev.tandem.bench.serve.Trace;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.StringReader;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SplitwisePlannerTest {
    // prefill 10 + 0.1·n ms, one prompt a step: a 100-token prompt takes 20 ms, so a prompt machine takes 50 a second
    private static final MachineProfile PROFILE = new MachineProfile("hand", "by hand", 10, 0.1, 5, 1, 0, 2, 0.01,
            100, 700, 500, 100, 2);

    @Test
    void shouldSplitABudgetIntoEveryFullMixOfTheTwoKinds() {
        assertEquals(List.of("0+4", "1+3", "2+2", "3+1", "4+0"), names(SplitwisePlanner.splits(
                SplitwisePlanner.Budget.MACHINES, 4, PROFILE, PROFILE)));
        MachineProfile dearer = new MachineProfile("dear", "", 10, 0.1, 5, 1, 0, 2, 0.01, 100, 700, 500, 100, 3);
        // $10 an hour, prompt machines at $2 and token machines at $3: splits where neither kind fits another
        assertEquals(List.of("0+3", "2+2", "3+1", "5+0"), names(SplitwisePlanner.splits(
                SplitwisePlanner.Budget.COST, 10, PROFILE, dearer)));
    }

    private static List<String> names(List<int[]> splits) {
        return splits.stream().map(s -> s[0] + "+" + s[1]).toList();
    }

    @Test
    void shouldFindTheRateWhereThePromptMachinesRunOut() throws IOException {
        // arrivals evenly spaced (a D/D/1 queue): no wait below 50 req/s a prompt machine, a growing one above it
        StringBuilder csv = new StringBuilder("TIMESTAMP,ContextTokens,GeneratedTokens\n");
        for (int i = 0; i < 100; i++) {
            csv.append(String.format("2023-11-16 18:00:%02d.%03d0000,100,2%n", i / 10, (i % 10) * 100));
        }
        Trace trace = Trace.parse(new BufferedReader(new StringReader(csv.toString())), "even");
        SplitwisePlanner.Settings settings = new SplitwisePlanner.Settings(trace, 20, 0, LengthLimits.NONE, 10_000,
                10_000, Long.MAX_VALUE / 4, 4); // no mixed pool: token machines never take prompts
        // the KV transfer free, so that a two-token request's one gap is a plain decode step, as the baseline's are
        MachineProfile noKv = new MachineProfile("hand", "by hand", 10, 0.1, 5, 1, 0, 0, 0, 100, 700, 500, 100, 2);
        SplitwisePlanner.Design one = SplitwisePlanner.design(1, 1, noKv, noKv, settings);
        assertTrue(one.maxRate() > 45 && one.maxRate() <= 50.5, "one prompt machine: " + one.maxRate());
        SplitwisePlanner.Design two = SplitwisePlanner.design(2, 1, noKv, noKv, settings);
        assertTrue(two.maxRate() > 90 && two.maxRate() <= 101, "two prompt machines: " + two.maxRate());
        assertEquals(3 * 2, two.costPerHour(), 1e-12);

        List<SplitwisePlanner.Design> ranked = SplitwisePlanner.plan(List.of(new int[] {1, 1}, new int[] {2, 1}),
                noKv, noKv, settings, 2, line -> { });
        assertArrayEquals(new int[] {2, 1}, new int[] {ranked.get(0).promptMachines(), ranked.get(0).tokenMachines()});
        assertTrue(SplitwisePlanner.markdown(ranked).contains("| 1 | 2 | 1 |"), SplitwisePlanner.markdown(ranked));
        assertTrue(SplitwisePlanner.clusterFile(ranked.get(0), settings).contains("prompt.nodes = 2\ntoken.nodes = 1\n"));
    }
}
