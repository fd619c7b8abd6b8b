package dev.tandem.core.engine;

import dev.tandem.core.checkpoint.SafetensorsFile;
import dev.tandem.core.compute.cpu.CpuBackend;
import dev.tandem.core.model.CausalLm;
import dev.tandem.core.model.FixtureSupport;
import dev.tandem.core.model.Models;
import dev.tandem.core.sampling.SamplingParams;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * KV blocks taken as sequences grow: a cache too small for every request's whole length at once
 * preempts and recomputes, and the tokens stay transformers' greedy tokens; a short request is
 * not held behind long ones; a sequence alone that outgrows the cache ends with "length".
 */
class KvGrowthTest {
    private static final int GREEDY = 12; // the fixtures' greedy tokens per prompt
    private static final int BLOCK = 2;

    private static List<Request> fixtureRequests(SafetensorsFile expected, int maxTokens) {
        List<Request> requests = new ArrayList<>();
        for (int p = 0; p < FixtureSupport.PROMPTS; p++) {
            requests.add(new Request(FixtureSupport.ints(expected, "p" + p + ".input_ids"), maxTokens,
                    SamplingParams.GREEDY, false, false));
        }
        return requests;
    }

    private static int longestPrompt(List<Request> requests) {
        return requests.stream().mapToInt(r -> r.prompt().length).max().orElseThrow();
    }

    @ParameterizedTest(name = "{0}, m={1}")
    @CsvSource({"mixtral-tiny, 1", "mixtral-tiny, 2", "dbrx-tiny, 1"})
    void shouldKeepTransformersGreedyTokensThroughPreemptionAndRecompute(String model, int microBatches) {
        try (SafetensorsFile expected = FixtureSupport.expected(model);
             CausalLm lm = Models.load(FixtureSupport.dir(model), new CpuBackend(1), 64)) {
            List<Request> requests = fixtureRequests(expected, GREEDY);
            int oneWhole = longestPrompt(requests) + GREEDY;
            // room for one request's whole length and a little: the three together must take turns
            Generator generator = new Generator(lm, lm.newKvCache(oneWhole + 4 * BLOCK, BLOCK), microBatches);
            List<Result> results = generator.generate(requests);
            for (int p = 0; p < requests.size(); p++) {
                assertArrayEquals(FixtureSupport.ints(expected, "p" + p + ".greedy"), results.get(p).outputIds(),
                        model + " p" + p + " after " + generator.stats().preemptions() + " preemptions");
            }
            assertTrue(generator.stats().preemptions() > 0, "the cache was large enough not to preempt");
            assertEquals(generator.totalKvBlocks(), generator.freeKvBlocks(), "every block back");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny"})
    void shouldServeAShortRequestBesideLongOnesThatFillTheCache(String model) {
        try (SafetensorsFile expected = FixtureSupport.expected(model);
             CausalLm lm = Models.load(FixtureSupport.dir(model), new CpuBackend(1), 64)) {
            List<Request> fixture = fixtureRequests(expected, GREEDY);
            int prompt = longestPrompt(fixture);
            int tokens = 2 * (prompt + 40);
            Generator generator = new Generator(lm, lm.newKvCache(tokens, BLOCK));
            List<Result> longResults = new ArrayList<>();
            for (int i = 0; i < 2; i++) { // each could grow past the whole cache: admitted on their prompts
                generator.submit(new Request(fixture.get(i).prompt(), 10 * tokens, SamplingParams.GREEDY, false, false),
                        longResults::add);
            }
            for (int step = 0; step < 30; step++) {
                generator.step();
            }
            Result[] shortResult = new Result[1];
            generator.submit(new Request(fixture.get(2).prompt(), 3, SamplingParams.GREEDY, false, false),
                    r -> shortResult[0] = r);
            int steps = 0;
            while (shortResult[0] == null && steps < 200) {
                generator.step();
                steps++;
            }
            assertNotNull(shortResult[0], "the short request did not finish in 200 steps");
            assertTrue(steps <= 3 + 2 * (prompt + 3), "the short request took " + steps + " steps");
            assertArrayEquals(Arrays.copyOf(FixtureSupport.ints(expected, "p2.greedy"), 3), shortResult[0].outputIds());
            assertTrue(longResults.isEmpty(), "the long requests are still running");
            generator.abortAll("test over");
        }
    }

    /** A queue limit counts requests that wait for KV memory, not those the next step admits. */
    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny"})
    void shouldCountOnlyRequestsThatWaitForKvMemory(String model) {
        try (SafetensorsFile expected = FixtureSupport.expected(model);
             CausalLm lm = Models.load(FixtureSupport.dir(model), new CpuBackend(1), 64)) {
            Request r = fixtureRequests(expected, 1000).get(0);
            Generator roomy = new Generator(lm, lm.newKvCache(64 * (r.prompt().length + 1), BLOCK));
            for (int i = 0; i < 6; i++) {
                roomy.submit(r, result -> { });
            }
            assertEquals(6, roomy.queuedRequests(), "not running yet");
            assertEquals(0, roomy.requestsWaitingForKv(), "the next step admits all six");
            roomy.abortAll("test over");

            int onePrompt = (r.prompt().length + 1 + BLOCK - 1) / BLOCK * BLOCK;
            Generator tight = new Generator(lm, lm.newKvCache(onePrompt + BLOCK, BLOCK));
            for (int i = 0; i < 3; i++) {
                tight.submit(r, result -> { });
            }
            assertEquals(3, tight.requestsWaitingForKv(), "three prompts, room for one");
            tight.step();
            assertEquals(2, tight.requestsWaitingForKv(), "one admitted, two wait");
            tight.abortAll("test over");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldEndASequenceAloneThatOutgrowsTheCacheWithLength(String model) {
        try (SafetensorsFile expected = FixtureSupport.expected(model);
             CausalLm lm = Models.load(FixtureSupport.dir(model), new CpuBackend(1), 64)) {
            Request r = fixtureRequests(expected, 1000).get(0);
            int cacheTokens = (r.prompt().length + 5 + BLOCK - 1) / BLOCK * BLOCK;
            Generator generator = new Generator(lm, lm.newKvCache(cacheTokens, BLOCK));
            Result result = generator.generate(List.of(r)).getFirst();
            assertEquals("length", result.finishReason());
            int produced = result.outputIds().length;
            assertEquals(cacheTokens - r.prompt().length + 1, produced, "tokens until the cache's last slot was used");
            assertArrayEquals(Arrays.copyOf(FixtureSupport.ints(expected, "p0.greedy"), Math.min(produced, GREEDY)),
                    Arrays.copyOf(result.outputIds(), Math.min(produced, GREEDY)));
        }
    }
}
