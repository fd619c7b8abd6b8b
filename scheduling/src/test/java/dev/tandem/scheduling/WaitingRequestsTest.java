package dev.tandem.scheduling;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WaitingRequestsTest {
    /** {prompt tokens, total tokens} of each request. */
    private static final int[][] REQUESTS = {{100, 300}, {50, 600}, {10, 20}};

    @Test
    void shouldRouteInArrivalOrderUntilTheHeadFindsNoRoom() {
        // one token machine of 700 positions, no prompt machine: everything runs on it (the mixed pool)
        SplitwisePolicy policy = new SplitwisePolicy(new long[0], new long[] {700}, 4096);
        WaitingRequests<Integer> waiting = new WaitingRequests<>(10);
        for (int i = 0; i < REQUESTS.length; i++) {
            assertTrue(waiting.offer(i));
        }
        List<String> routed = new ArrayList<>();
        int n = waiting.routeWaiting(policy, i -> REQUESTS[i][0], i -> REQUESTS[i][1],
                (i, route) -> routed.add(i + ":" + route.kind() + ":" + route.totalTokens()));
        // 300 fit, then 600 does not fit in the 400 left: the 20 behind it waits too (arrival order)
        assertEquals(1, n);
        assertEquals(List.of("0:ON_TOKEN:300"), routed);
        assertEquals(2, waiting.size());

        policy.finished(new Route(Route.Kind.ON_TOKEN, -1, 0, 100, 300), false);
        n = waiting.routeWaiting(policy, i -> REQUESTS[i][0], i -> REQUESTS[i][1],
                (i, route) -> routed.add(i + ":" + route.kind() + ":" + route.totalTokens()));
        assertEquals(2, n);
        assertEquals(List.of("0:ON_TOKEN:300", "1:ON_TOKEN:600", "2:ON_TOKEN:20"), routed);
        assertTrue(waiting.isEmpty());
    }

    @Test
    void shouldSpreadWholeRequestsOverPromptMachinesThatTieOnPendingTokens() {
        // no token machine: every request runs whole on a prompt machine; once their prefills are done the
        // machines tie on pending prompt tokens, and the one with the most free KV takes the next
        SplitwisePolicy policy = new SplitwisePolicy(new long[] {1000, 1000, 1000}, new long[0], 4096);
        List<Integer> machines = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Route r = policy.route(100, 300);
            policy.prefillDone(r);
            machines.add(r.promptMachine());
        }
        assertEquals(List.of(0, 1, 2), machines, "not all on the first machine");
    }

    @Test
    void shouldTurnAwayArrivalsPastTheLimitButTakeRetriesAhead() {
        WaitingRequests<String> waiting = new WaitingRequests<>(2);
        assertTrue(waiting.offer("a"));
        assertTrue(waiting.offer("b"));
        assertFalse(waiting.offer("c"), "a third waiting request is a 429");
        waiting.addFirst("retried");
        assertEquals(3, waiting.size());
        assertEquals("retried", waiting.poll());
        assertTrue(waiting.remove("b"));
        assertEquals("a", waiting.poll());
        assertEquals(null, waiting.poll());
    }
}
