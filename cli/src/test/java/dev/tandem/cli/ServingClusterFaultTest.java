package dev.tandem.cli;

import dev.tandem.core.engine.TokenCollector;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.Result;
import dev.tandem.core.sampling.SamplingParams;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A token group whose expert node or attention node dies: within a bounded time the scheduler stops routing to it,
 * and the request it was decoding runs again on the other group, whose tokens continue exactly
 * where the listener left off; the rest of the cluster goes on serving exact tokens, and the
 * launcher restarts the dead group under a new epoch, which then serves exactly too.
 */
class ServingClusterFaultTest {
    private static final String MODEL = "mixtral-tiny";
    private static final long FAIL_WITHIN_S = 60;       // the media driver's liveness timeout is ~10 s
    private static final int LONG_OUTPUT = 3_000;        // keeps a request decoding until the kill
    private static final int KV_TOKENS = 4_096;          // the fixture's context: seconds of decoding

    @org.junit.jupiter.params.ParameterizedTest(name = "{0} killed")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"expert-node", "attention-node"})
    void shouldMoveTheDeadGroupsRequestToTheSurvivorsAndServeOn(String role) throws Exception {
        FixtureExpectations.Prompt p = FixtureExpectations.load(MODEL).getFirst();
        try (ServingCluster cluster = new ServingCluster(new ServingCluster.Options(CliFixtures.fixture(MODEL), MODEL,
                1, 2, 1, 1, 1, 1, 64, 8192, 1 << 20, 64))) {
            List<TokenCollector> doomed = twoLongRequests(cluster, p);
            ProcessHandle node = groupNode(0, role);
            node.destroyForcibly();
            long killed = System.nanoTime();
            double detectedS = awaitRetry(cluster, killed);
            System.err.printf("fault: %s killed, the dead group's request rerouted %.2f s after the kill%n", role,
                    detectedS);
            assertTrue(detectedS < 3, "the launcher sees its " + role + " exit: rerouted after " + detectedS + " s");
            assertArrayEquals(new int[] {1, 1}, cluster.engine().machines().get("prompt"));
            double backS = awaitTokenMachines(cluster, 2, killed);
            System.err.printf("fault: group 0 restarted under a new epoch, its machine back %.2f s after the kill%n",
                    backS);
            assertArrayEquals(new int[] {2, 2}, cluster.engine().machines().get("token"), "the restarted group rejoined");

            assertBothEndAlike(doomed);
            assertEquals(3L, cluster.engine().routed().values().stream().mapToLong(Long::longValue).sum(),
                    "two requests and one retry: " + cluster.engine().routed());
            System.err.printf("fault: both requests done %.1f s after the kill%n", (System.nanoTime() - killed) / 1e9);

            // the other group's attention node stopped (lost by its heartbeats, not restarted): only the
            // restarted group is left to serve, and it serves exactly
            ProcessHandle survivor = groupNode(1, "attention-node");
            signal("STOP", survivor);
            try {
                awaitTokenMachines(cluster, 1, System.nanoTime());
                assertArrayEquals(new int[] {1, 2}, cluster.engine().machines().get("token"), "group 1 lost");
                assertServesGreedy(cluster, p, "the restarted group serves, exactly");
                assertTrue(cluster.engine().healthy());
            } finally {
                signal("CONT", survivor);
            }
        }
        assertThrows(AssertionError.class, () -> groupNode(0, "expert-node"), "nothing left behind");
        assertThrows(AssertionError.class, () -> groupNode(0, "attention-node"), "nothing left behind");
    }

    /**
     * A token group's attention node stopped (SIGSTOP: alive, silent) mid-decode: its heartbeats stop,
     * and within the timeout the scheduler loses it and moves its request to the other group, whose
     * tokens continue exactly; what the node says once it runs again is dropped.
     */
    @Test
    void shouldTakeAHungAttentionNodeForGoneWithinTheHeartbeatTimeout() throws Exception {
        FixtureExpectations.Prompt p = FixtureExpectations.load(MODEL).getFirst();
        try (ServingCluster cluster = new ServingCluster(new ServingCluster.Options(CliFixtures.fixture(MODEL), MODEL,
                1, 2, 1, 1, 1, 1, 64, 8192, 1 << 20, 64))) {
            List<TokenCollector> doomed = twoLongRequests(cluster, p);
            ProcessHandle node = groupNode(0, "attention-node");
            signal("STOP", node);
            long stopped = System.nanoTime();
            try {
                double detectedS = awaitRetry(cluster, stopped);
                System.err.printf("fault: attention-node stopped, its request rerouted %.2f s after%n", detectedS);
                assertTrue(detectedS < 2, "heartbeats every " + dev.tandem.scheduler.cluster.NodeLink.HEARTBEAT_MS
                        + " ms, lost after " + dev.tandem.scheduler.cluster.NodeLink.HEARTBEAT_TIMEOUT_MS
                        + " ms of silence: rerouted after " + detectedS + " s");
                assertArrayEquals(new int[] {1, 2}, cluster.engine().machines().get("token"));
            } finally {
                signal("CONT", node);
            }
            assertBothEndAlike(doomed);
        }
    }

    /** Two long requests: the policy spreads them over both token groups (most free KV first); both started. */
    private static List<TokenCollector> twoLongRequests(ServingCluster cluster, FixtureExpectations.Prompt p)
            throws Exception {
        List<TokenCollector> requests = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            TokenCollector o = new TokenCollector();
            cluster.engine().submit(new Request(p.inputIds(), LONG_OUTPUT, SamplingParams.GREEDY, false, false), o);
            requests.add(o);
        }
        for (TokenCollector o : requests) {
            o.firstToken().get(120, TimeUnit.SECONDS);
        }
        return requests;
    }

    /** Seconds from {@code since} until the engine has routed a third time (the retry), or the deadline. */
    private static double awaitRetry(ServingCluster cluster, long since) throws InterruptedException {
        long deadline = since + TimeUnit.SECONDS.toNanos(FAIL_WITHIN_S + 30);
        while (cluster.engine().routed().values().stream().mapToLong(Long::longValue).sum() < 3
                && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        return (System.nanoTime() - since) / 1e9;
    }

    /** {@code p}'s prompt through the cluster, greedily, gives the fixture's greedy tokens. */
    private static void assertServesGreedy(ServingCluster cluster, FixtureExpectations.Prompt p, String what)
            throws Exception {
        TokenCollector o = new TokenCollector();
        cluster.engine().submit(new Request(p.inputIds(), p.greedy().length, SamplingParams.GREEDY, false, false), o);
        assertArrayEquals(p.greedy(), o.result().get(120, TimeUnit.SECONDS).outputIds(), what);
    }

    /** Seconds from {@code since} until {@code alive} token machines are alive, or the deadline. */
    private static double awaitTokenMachines(ServingCluster cluster, int alive, long since) throws InterruptedException {
        long deadline = since + TimeUnit.SECONDS.toNanos(FAIL_WITHIN_S);
        while (cluster.engine().machines().get("token")[0] != alive && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        return (System.nanoTime() - since) / 1e9;
    }

    /** The moved request ends exactly like the one that never moved, every token heard once. */
    private static void assertBothEndAlike(List<TokenCollector> requests) throws Exception {
        Result[] results = new Result[2];
        for (int i = 0; i < 2; i++) {
            results[i] = requests.get(i).result().get(FAIL_WITHIN_S + 120, TimeUnit.SECONDS);
            assertEquals(LONG_OUTPUT, requests.get(i).tokens().size(), "every token heard once");
        }
        assertArrayEquals(results[0].outputIds(), results[1].outputIds(),
                "the request moved to the survivor ends exactly like the one that never moved");
    }

    private static void signal(String signal, ProcessHandle process) throws Exception {
        assertEquals(0, new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid())).start()
                .waitFor(), "kill -" + signal);
    }

    /** A prompt machine of two dies idle: the pool shrinks at once, and prompts go to the other, exactly. */
    @Test
    void shouldServeOnTheOtherPromptMachineWhenOneDies() throws Exception {
        FixtureExpectations.Prompt p = FixtureExpectations.load(MODEL).getFirst();
        try (ServingCluster cluster = new ServingCluster(new ServingCluster.Options(CliFixtures.fixture(MODEL), MODEL,
                2, 1, 1, 1, 1, 1, 64, 8192, 1 << 20, 64))) {
            ProcessHandle promptNode = ProcessHandle.current().descendants()
                    .filter(ph -> cmdline(ph).contains("\0prompt-node\0")).findFirst()
                    .orElseThrow(() -> new AssertionError("no prompt node"));
            promptNode.destroyForcibly();
            long killed = System.nanoTime();
            long deadline = killed + TimeUnit.SECONDS.toNanos(FAIL_WITHIN_S);
            while (cluster.engine().machines().get("prompt")[0] == 2 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            double detectedS = (System.nanoTime() - killed) / 1e9;
            System.err.printf("fault: prompt-node killed, its pool shrank %.2f s after the kill%n", detectedS);
            assertTrue(detectedS < 3, "the prompt machine's death seen after " + detectedS + " s");
            assertArrayEquals(new int[] {1, 2}, cluster.engine().machines().get("prompt"), "one prompt machine of two");
            for (int i = 0; i < 2; i++) {
                assertServesGreedy(cluster, p, "served by the survivor, exactly");
            }
            assertTrue(cluster.engine().healthy());
        }
    }

    @Test
    void shouldFreeTheTokenMachinesBlocksWhenASplitRequestIsCancelled() throws Exception {
        FixtureExpectations.Prompt p = FixtureExpectations.load(MODEL).getFirst();
        int fill = KV_TOKENS - p.inputIds().length; // the request's KV is the token machine's whole cache
        try (ServingCluster cluster = new ServingCluster(new ServingCluster.Options(CliFixtures.fixture(MODEL), MODEL,
                1, 1, 1, 1, 1, 1, 64, KV_TOKENS, 1 << 20, 64))) {
            TokenCollector cancelled = new TokenCollector();
            var handle = cluster.engine().submit(new Request(p.inputIds(), fill, SamplingParams.GREEDY, false, false),
                    cancelled);
            cancelled.firstToken().get(120, TimeUnit.SECONDS);
            handle.cancel();
            assertEquals("cancelled", cancelled.result().get(60, TimeUnit.SECONDS).finishReason());
            // it only fits if the token machine freed every block of the cancelled one
            TokenCollector next = new TokenCollector();
            cluster.engine().submit(new Request(p.inputIds(), fill, SamplingParams.GREEDY, false, false), next);
            Result r = next.result().get(120, TimeUnit.SECONDS);
            assertEquals(fill, r.outputIds().length);
            assertEquals(p.greedy()[0], r.outputIds()[0]);
            assertEquals(java.util.Map.of(dev.tandem.scheduling.Route.Kind.SPLIT, 2L), cluster.engine().routed());
        }
    }

    /**
     * The node process of {@code role} in token group {@code group}, by its subcommand (an argument of
     * its own: every node's class path names the attention-node and expert-node jars) and config file
     * (the group's first, or one of a restart under a later epoch).
     */
    private static ProcessHandle groupNode(int group, String role) {
        return ProcessHandle.current().descendants()
                .filter(ph -> {
                    String cmd = cmdline(ph);
                    return cmd.contains("\0" + role + "\0") && (cmd.contains("group-" + group + ".properties")
                            || cmd.contains("group-" + group + "-epoch-"));
                })
                .findFirst()
                .orElseThrow(() -> new AssertionError("no " + role + " in group " + group));
    }

    private static String cmdline(ProcessHandle p) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Long.toString(p.pid()), "cmdline")),
                    StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }
}
