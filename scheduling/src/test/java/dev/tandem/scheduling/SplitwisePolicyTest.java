package dev.tandem.scheduling;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SplitwisePolicyTest {
    private static final long THRESHOLD = 1_000;

    @Test
    void splitsAcrossShortestPromptQueueAndMostFreeTokenMachine() {
        SplitwisePolicy policy = new SplitwisePolicy(new long[] {4_000, 4_000}, new long[] {2_000, 3_000}, THRESHOLD);
        Route first = policy.route(300, 400);
        assertEquals(new Route(Route.Kind.SPLIT, 0, 1, 300, 400), first);
        // prompt machine 0 now has 300 pending, 1 has none; token machine 1 has 2600 free, 0 has 2000
        Route second = policy.route(100, 200);
        assertEquals(new Route(Route.Kind.SPLIT, 1, 1, 100, 200), second);
        assertEquals(2_400, policy.freeKvTokens(1));
        assertEquals(300, policy.pendingPromptTokens(0));
    }

    @Test
    void tokenMachineJoinsMixedPoolWhenPromptMachinesAreBackedUp() {
        SplitwisePolicy policy = new SplitwisePolicy(new long[] {10_000}, new long[] {10_000}, THRESHOLD);
        Route big = policy.route(1_200, 1_300);                 // 0 pending ≤ threshold: split
        assertEquals(Route.Kind.SPLIT, big.kind());
        Route next = policy.route(50, 60);                      // 1200 pending > 1000: on the token machine
        assertEquals(new Route(Route.Kind.ON_TOKEN, -1, 0, 50, 60), next);
        assertEquals(SplitwisePolicy.Pool.MIXED, policy.tokenMachinePool(0));
        policy.finished(next, false);
        assertEquals(SplitwisePolicy.Pool.TOKEN, policy.tokenMachinePool(0));  // home once idle of prompts
        policy.prefillDone(big);
        assertEquals(0, policy.pendingPromptTokens(0));
        assertEquals(Route.Kind.SPLIT, policy.route(50, 60).kind());
    }

    @Test
    void promptMachineJoinsMixedPoolWhenNoTokenMachineHasRoom() {
        SplitwisePolicy policy = new SplitwisePolicy(new long[] {5_000}, new long[] {1_000}, THRESHOLD);
        Route fits = policy.route(100, 900);
        assertEquals(Route.Kind.SPLIT, fits.kind());
        Route spill = policy.route(100, 900);                   // token side has 100 free
        assertEquals(new Route(Route.Kind.ON_PROMPT, 0, -1, 100, 900), spill);
        assertEquals(SplitwisePolicy.Pool.MIXED, policy.promptMachinePool(0));
        assertEquals(1, policy.machinesIn(SplitwisePolicy.Pool.MIXED));
        policy.finished(spill, false);
        assertEquals(SplitwisePolicy.Pool.PROMPT, policy.promptMachinePool(0));
        assertEquals(5_000 - 100, kvLeftOnPromptAfter(policy));
    }

    @Test
    void nothingFitsSoTheRequestWaits() {
        SplitwisePolicy policy = new SplitwisePolicy(new long[] {500}, new long[] {500}, THRESHOLD);
        Route r = policy.route(100, 500);
        assertEquals(Route.Kind.SPLIT, r.kind());
        assertNull(policy.route(100, 500));
        policy.finished(r, false);
        assertEquals(Route.Kind.SPLIT, policy.route(100, 500).kind());
    }

    @Test
    void onlyTokenMachinesRunEverythingThemselves() {
        SplitwisePolicy policy = new SplitwisePolicy(new long[0], new long[] {1_000, 1_000}, THRESHOLD);
        assertEquals(new Route(Route.Kind.ON_TOKEN, -1, 0, 10, 20), policy.route(10, 20));
        assertEquals(new Route(Route.Kind.ON_TOKEN, -1, 1, 10, 20), policy.route(10, 20));
    }

    @Test
    void lostMachinesAreNeverChosenAgain() {
        SplitwisePolicy policy = new SplitwisePolicy(new long[] {1_000, 1_000}, new long[] {1_000, 2_000}, THRESHOLD);
        assertTrue(policy.tokenMachineLost(1));
        assertFalse(policy.tokenMachineLost(1), "lost once");
        assertTrue(policy.promptMachineLost(0));
        assertEquals(new Route(Route.Kind.SPLIT, 1, 0, 10, 20), policy.route(10, 20), "the most free KV was on 1");
        policy.tokenMachineLost(0);
        assertEquals(Route.Kind.ON_PROMPT, policy.route(10, 20).kind());
        assertTrue(policy.anyMachineAlive());
        policy.promptMachineLost(1);
        assertFalse(policy.anyMachineAlive());
        assertNull(policy.route(10, 20));
    }

    /**
     * A request longer than every machine's cache (the model's context, as a chat request without
     * max_tokens asks) reserves a whole token machine instead of waiting forever, and gives it back.
     */
    @Test
    void requestLongerThanAnyCacheTakesAWholeMachineAndGivesItBack() {
        SplitwisePolicy policy = new SplitwisePolicy(new long[] {1_000}, new long[] {2_000, 1_500}, THRESHOLD);
        Route whole = policy.route(100, 32_768);
        assertEquals(new Route(Route.Kind.SPLIT, 0, 0, 100, 2_000), whole, "all 2000 positions of the roomiest");
        Route next = policy.route(100, 32_768);
        assertEquals(new Route(Route.Kind.SPLIT, 0, 1, 100, 1_500), next, "the other token machine, whole");
        assertNull(policy.route(100, 32_768), "then every cache is booked: it waits");
        policy.finished(whole, false);
        assertEquals(2_000, policy.route(100, 32_768).totalTokens(), "the first machine's cache is free again");
        assertEquals(2_000, policy.largestKv());
        SplitwisePolicy small = new SplitwisePolicy(new long[] {1_000}, new long[] {2_000}, THRESHOLD);
        assertEquals(Route.Kind.ON_TOKEN, small.route(1_500, 32_768).kind(),
                "a prompt is never cut to a prompt machine's cache: it runs where it fits whole");
    }

    /** The KV the prompt machine has left with the first split's prompt still held (100 positions). */
    private static long kvLeftOnPromptAfter(SplitwisePolicy policy) {
        Route probe = policy.route(0, 4_900);                   // only the prompt machine could hold 4900
        long left = probe == null ? -1 : 4_900;
        return left;
    }
}
