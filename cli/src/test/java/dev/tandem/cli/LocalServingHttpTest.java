package dev.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code tandem local --prompt-nodes 1 --token-groups 1}: the OpenAI API in front of a prompt
 * machine and an AFD token group, every node its own process. Over real HTTP, greedy
 * completions' token_ids equal transformers' greedy tokens, streamed (every token once, in order)
 * and whole, many at once; stopping leaves no process behind.
 */
class LocalServingHttpTest {
    private static final long START_WAIT_MS = 180_000;
    private static final int COPIES = 4;
    private final ObjectMapper json = new ObjectMapper();

    @TempDir
    Path temp;

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldServeTransformersGreedyTokensOverHttpFromSplitPools(String model) throws Exception {
        serve(model);
    }

    /**
     * The same over aeron-udp: every node at a 127.0.0.1 port of its own, the token group's M2N
     * frames and the prompt machine's KV layers in UDP datagrams, as between hosts.
     */
    @org.junit.jupiter.api.Test
    void shouldServeTransformersGreedyTokensFromSplitPoolsOverUdp() throws Exception {
        serve("mixtral-tiny", "--transport", "aeron-udp");
    }

    /**
     * The same with every node on a CUDA device in float32: the prompt machine's KV leaves its
     * device layer by layer and the token group's attention nodes write it into theirs.
     */
    @org.junit.jupiter.api.Tag("gpu")
    @org.junit.jupiter.api.extension.ExtendWith(dev.tandem.cuda.RequiresCuda.class)
    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldServeTransformersGreedyTokensFromSplitPoolsOnTheGpu(String model) throws Exception {
        serve(model, "--device", "cuda:0", "--dtype", "float32");
    }

    private void serve(String model, String... deviceArgs) throws Exception {
        List<FixtureExpectations.Prompt> prompts = FixtureExpectations.load(model);
        List<ProcessHandle> nodes;
        List<String> args = new ArrayList<>(List.of("--model", CliFixtures.fixture(model).toString(), "--prompt-nodes",
                "1", "--token-groups", "1", "--attention-nodes", "2", "--expert-nodes", "2", "--micro-batches", "2",
                "--max-batch-tokens", "64", "--kv-tokens", "1024", "--served-model-name", "tiny"));
        args.addAll(List.of(deviceArgs));
        try (ApiServer server = ApiServer.start(temp.resolve("port"), START_WAIT_MS, "local", args.toArray(String[]::new));
             HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()) {
            int port = server.port();
            nodes = ClusterProcesses.nodes();
            assertEquals(5, nodes.size(), "prompt node, two attention and two expert nodes");
            if (args.contains("aeron-udp")) { // the prompt machine sends KV to each token machine's own UDP port
                String promptNode = String.join(" ", ClusterProcesses.arguments(nodes.stream()
                        .filter(n -> ClusterProcesses.arguments(n).contains("prompt-node")).findFirst().orElseThrow()));
                assertTrue(promptNode.matches(".*--kv-channels aeron:udp\\?endpoint=127\\.0\\.0\\.1:\\d+,"
                        + "aeron:udp\\?endpoint=127\\.0\\.0\\.1:\\d+ .*"), promptNode);
            }
            List<CompletableFuture<List<Integer>>> results = new ArrayList<>();
            for (int copy = 0; copy < COPIES; copy++) {
                for (FixtureExpectations.Prompt p : prompts) {
                    results.add(complete(client, port, p, copy % 2 == 1));
                }
            }
            for (int i = 0; i < results.size(); i++) {
                FixtureExpectations.Prompt p = prompts.get(i % prompts.size());
                assertEquals(Arrays.stream(p.greedy()).boxed().toList(), results.get(i).get(120, TimeUnit.SECONDS),
                        model + " request " + i + (i / prompts.size() % 2 == 1 ? " (streamed)" : ""));
            }
            String metrics = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                    .build(), HttpResponse.BodyHandlers.ofString()).body();
            assertTrue(metrics.matches("(?s).*\ntandem_queue_depth\\{model_name=\"[^\"]*\",pool=\"waiting\"\\} 0(\\.0)?\n.*"), metrics);
            assertTrue(metrics.contains("tandem_machines{model_name=\"tiny\",pool=\"token\",state=\"alive\"} 2"), metrics);
            JsonNode health = json.readTree(client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                    + "/health")).build(), HttpResponse.BodyHandlers.ofString()).body());
            assertEquals("ok", health.get("status").asText());
            assertEquals(2, health.at("/machines/token/alive").asInt(), health.toString());
            assertEquals(2, health.at("/machines/token/total").asInt(), health.toString());
            assertEquals(1, health.at("/machines/prompt/alive").asInt(), health.toString());
        }
        assertEquals(List.of(), nodes.stream().filter(ProcessHandle::isAlive).toList(), "node processes alive");
    }

    /** A greedy completion of {@code p}; its token_ids, gathered from the stream's chunks when streamed. */
    private CompletableFuture<List<Integer>> complete(HttpClient client, int port, FixtureExpectations.Prompt p,
                                                      boolean stream) {
        String body = "{\"model\":\"tiny\",\"prompt\":" + Arrays.toString(p.inputIds()) + ",\"max_tokens\":"
                + p.greedy().length + ",\"temperature\":0,\"ignore_eos\":true,\"stream\":" + stream + "}";
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                .timeout(Duration.ofSeconds(120)).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build();
        return client.sendAsync(request, HttpResponse.BodyHandlers.ofString()).thenApply(r -> {
            assertEquals(200, r.statusCode(), r.body());
            List<Integer> ids = new ArrayList<>();
            List<String> payloads = stream
                    ? r.body().lines().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6)).collect(Collectors.toList())
                    : List.of(r.body());
            if (stream) {
                assertEquals("[DONE]", payloads.getLast(), "the stream ends with [DONE]");
                payloads = payloads.subList(0, payloads.size() - 1);
            }
            for (String payload : payloads) {
                JsonNode chunk = read(payload);
                for (JsonNode id : chunk.at("/choices/0/token_ids")) {
                    ids.add(id.asInt());
                }
            }
            return ids;
        });
    }

    private JsonNode read(String payload) {
        try {
            return json.readTree(payload);
        } catch (Exception e) {
            throw new AssertionError("not JSON: " + payload, e);
        }
    }
}
