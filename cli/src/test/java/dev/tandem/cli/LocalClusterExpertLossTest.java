package dev.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An expert node process killed while long requests are in flight: every request ends within a
 * bounded time with an error that names the lost node, the surviving nodes stop on their own,
 * and close still leaves nothing behind.
 */
class LocalClusterExpertLossTest {
    private static final String MODEL = "mixtral-tiny";
    private static final int LONG_MAX_TOKENS = 3_000;   // seconds of decoding: still running when the node dies
    private static final long STARTUP_TIMEOUT_S = 120;
    private static final long FAILURE_TIMEOUT_S = 30;
    private static final long SURVIVORS_STOP_TIMEOUT_S = 60;

    @Test
    void shouldFailInFlightRequestsNamingTheLostExpertNodeAndStillCleanUp() throws Exception {
        ObjectMapper json = new ObjectMapper();
        int[] prompt = FixtureExpectations.load(MODEL).getFirst().inputIds();
        List<ProcessHandle> started;
        Path clusterFile;
        Path aeronDirectory;
        try (LocalCluster cluster = new LocalCluster(new LocalCluster.Options(CliFixtures.fixture(MODEL), 2, 2, 2, 1, 64,
                8192, 0))) {
            started = ClusterProcesses.nodes();
            clusterFile = ClusterProcesses.clusterFile();
            aeronDirectory = ClusterProcesses.aeronDirectory(clusterFile);
            JsonNode warmUp = cluster.submit(0, request(json, prompt, 1)).get(STARTUP_TIMEOUT_S, TimeUnit.SECONDS);
            assertFalse(warmUp.has("error"), warmUp.toString());
            List<CompletableFuture<JsonNode>> inFlight = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                inFlight.add(cluster.submit(i % 2, request(json, prompt, LONG_MAX_TOKENS)));
            }
            Thread.sleep(500);
            assertTrue(inFlight.stream().noneMatch(CompletableFuture::isDone), "requests finished before the kill");

            ProcessHandle victim = ClusterProcesses.node("expert-node", 0);
            long killedAt = System.nanoTime();
            assertTrue(victim.destroyForcibly());

            for (CompletableFuture<JsonNode> f : inFlight) {
                String error = errorOf(f);
                System.out.printf("expert loss: request ended after %d ms: %s%n", sinceMs(killedAt), error.lines().findFirst().orElse(""));
                assertTrue(error.contains("expert node 0") || error.contains("receiver 0"), error);
            }
            List<ProcessHandle> survivors = started.stream().filter(p -> p.pid() != victim.pid()).toList();
            List<String> names = survivors.stream().map(ClusterProcesses::describe).toList();
            for (int i = 0; i < survivors.size(); i++) {
                survivors.get(i).onExit().get(SURVIVORS_STOP_TIMEOUT_S, TimeUnit.SECONDS);
                System.out.printf("expert loss: %s stopped on its own after %d ms%n", names.get(i), sinceMs(killedAt));
            }
            for (int node = 0; node < 2; node++) {
                // Without the launcher watching processes (nodes on other hosts), the attention nodes report the loss.
                String log = Files.readString(clusterFile.resolveSibling("attention-node-" + node + ".log"));
                String last = log.strip().lines().reduce((a, b) -> b).orElse("");
                System.out.println("expert loss: attention node " + node + " log ends: " + last);
                assertTrue(last.contains("attention node " + node + " failed: receiver 0 "), log);
            }
        }
        ClusterProcesses.assertNothingLeft(started, clusterFile.getParent(), aeronDirectory);
    }

    private static ObjectNode request(ObjectMapper json, int[] prompt, int maxTokens) {
        ObjectNode r = json.createObjectNode();
        r.set("input_ids", json.valueToTree(prompt));
        r.put("max_tokens", maxTokens);
        r.put("ignore_eos", true);
        return r;
    }

    /** The error a request ended with: its future failed, or it completed with an "error" line. */
    private static String errorOf(CompletableFuture<JsonNode> f) throws Exception {
        try {
            JsonNode result = f.get(FAILURE_TIMEOUT_S, TimeUnit.SECONDS);
            assertTrue(result.has("error"), "finished despite the lost node: " + result);
            return result.get("error").asText();
        } catch (ExecutionException | CompletionException e) {
            return e.getCause().getMessage();
        }
    }

    private static long sinceMs(long startNs) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs);
    }
}
