package dev.tandem.scheduler.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.engine.TokenCollector;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.Result;
import dev.tandem.core.sampling.SamplingParams;
import dev.tandem.scheduler.engine.EngineRejectedException;
import dev.tandem.scheduler.engine.ServedModel;
import dev.tandem.scheduling.Route;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.channels.Channels;
import java.nio.channels.Pipe;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link ClusterEngine} against scripted nodes on in-memory pipes: the test reads the request
 * lines the engine sends and answers them in the orders that real nodes may produce.
 */
class ClusterEngineTest {
    private static final ServedModel MODEL = new ServedModel("m", 64, 100, new int[] {2});
    private static final long WAIT_S = 10;
    private final ObjectMapper json = new ObjectMapper();
    private FakeNode prompt;
    private FakeNode token;
    private ClusterEngine engine;

    private void start(long promptKvTokens, long tokenKvTokens, int maxQueued) throws IOException {
        prompt = new FakeNode("prompt machine 0");
        token = new FakeNode("token machine 0");
        engine = new ClusterEngine(MODEL, List.of(prompt.link), new long[] {promptKvTokens}, List.of(token.link),
                new long[] {tokenKvTokens}, 1_000, maxQueued);
    }

    @AfterEach
    void close() {
        if (engine != null) {
            engine.close();
        }
    }

    @Test
    void shouldDeliverTokensInOrderWhenTheTokenMachineOvertakesThePromptMachine() throws Exception {
        start(64, 64, 8);
        TokenCollector heard = new TokenCollector();
        engine.submit(request(4), heard);
        JsonNode toToken = token.nextLine();
        JsonNode toPrompt = prompt.nextLine();
        assertEquals(toToken.get("kv_transfer").asLong(), toPrompt.get("kv_transfer").asLong(), "one transfer id");
        assertEquals(0, toPrompt.get("kv_to").asInt());
        String id = toToken.get("id").asText();
        // the token machine's second and third tokens and its end arrive before the prompt machine's first
        token.send("{\"id\":\"" + id + "\",\"token\":11}");
        token.send("{\"id\":\"" + id + "\",\"token\":12}");
        token.send("{\"id\":\"" + id + "\",\"output_ids\":[10,11,12],\"finish_reason\":\"stop\"}");
        Thread.sleep(50);
        assertEquals(List.of(), heard.tokens(), "nothing before the first token");
        prompt.send("{\"id\":\"" + id + "\",\"token\":10}");
        prompt.send("{\"id\":\"" + id + "\",\"output_ids\":[10],\"finish_reason\":\"prefilled\"}");
        Result r = heard.result().get(WAIT_S, TimeUnit.SECONDS);
        assertEquals(List.of(10, 11, 12), heard.tokens());
        assertArrayEquals(new int[] {10, 11, 12}, r.outputIds());
        assertEquals("stop", r.finishReason());
        assertEquals(Map.of(Route.Kind.SPLIT, 1L), engine.routed());
    }

    @Test
    void shouldHoldRequestsUntilKvFreesThenRejectPastTheQueueLimit() throws Exception {
        start(16, 10, 1);                               // one request of 4 + 6 fills the token machine
        TokenCollector first = new TokenCollector();
        engine.submit(request(6), first);
        String firstId = token.nextLine().get("id").asText();
        prompt.nextLine();
        TokenCollector second = new TokenCollector();
        engine.submit(request(6), second);              // the prompt machine takes it whole (mixed pool)
        JsonNode whole = prompt.nextLine();
        assertTrue(!whole.has("kv_to"), "runs whole on the prompt machine: " + whole);
        TokenCollector third = new TokenCollector();
        engine.submit(request(6), third);               // no room anywhere: waits
        EngineRejectedException e = assertThrows(EngineRejectedException.class,
                () -> engine.submit(request(6), new TokenCollector()));
        assertEquals(429, e.status());
        assertEquals(1, engine.queueDepths().get("waiting"));
        prompt.send("{\"id\":\"" + firstId + "\",\"token\":10}");
        token.send("{\"id\":\"" + firstId + "\",\"output_ids\":[10],\"finish_reason\":\"length\"}");
        first.result().get(WAIT_S, TimeUnit.SECONDS);
        JsonNode released = token.nextLine();           // the waiting one goes out once the KV is free
        assertEquals(6, released.get("max_tokens").asInt());
        assertEquals(0, engine.queueDepths().get("waiting"));
    }

    @Test
    void shouldRunARequestAgainElsewhereWhenItsTokenMachineGoesDownWithoutRepeatingTokens() throws Exception {
        start(64, 64, 8);
        TokenCollector heard = new TokenCollector();
        String id = splitThenLoseTheTokenMachineAfterTwoTokens(heard);
        assertEquals("{\"cancel\":\"" + id + "\"}", prompt.nextLine().toString(), "the old attempt is stopped");
        JsonNode again = prompt.nextLine();           // only the prompt machine is left: it runs it whole
        assertTrue(!again.has("kv_to") && !again.get("id").asText().equals(id), again.toString());
        String retry = again.get("id").asText();
        for (int t : new int[] {10, 11, 12, 13}) {
            prompt.send("{\"id\":\"" + retry + "\",\"token\":" + t + "}");
        }
        prompt.send("{\"id\":\"" + retry + "\",\"output_ids\":[10,11,12,13],\"finish_reason\":\"length\"}");
        Result r = heard.result().get(WAIT_S, TimeUnit.SECONDS);
        assertEquals(List.of(10, 11, 12, 13), heard.tokens(), "each token heard once");
        assertArrayEquals(new int[] {10, 11, 12, 13}, r.outputIds());
        assertEquals(Map.of(Route.Kind.SPLIT, 1L, Route.Kind.ON_PROMPT, 1L), engine.routed());
    }

    @Test
    void shouldFailARetryThatGeneratesOtherTokensThanTheListenerHeard() throws Exception {
        start(64, 64, 8);
        TokenCollector heard = new TokenCollector();
        String id = splitThenLoseTheTokenMachineAfterTwoTokens(heard);
        prompt.nextLine();
        String retry = prompt.nextLine().get("id").asText();
        prompt.send("{\"id\":\"" + retry + "\",\"token\":10}");
        prompt.send("{\"id\":\"" + retry + "\",\"token\":99}");
        Exception e = assertThrows(Exception.class, () -> heard.result().get(WAIT_S, TimeUnit.SECONDS));
        assertTrue(e.getCause().getMessage().contains("generated token 99 where token 1 was 11"),
                e.getCause().getMessage());
        assertEquals(List.of(10, 11), heard.tokens());
    }

    @Test
    void shouldFailTheRequestsOfTheLastMachineNamingIt() throws Exception {
        token = new FakeNode("token machine 0");
        engine = new ClusterEngine(MODEL, List.of(), new long[0], List.of(token.link), new long[] {64}, 1_000, 8);
        TokenCollector heard = new TokenCollector();
        engine.submit(request(4), heard);
        token.nextLine();
        token.send("{\"node_failed\":true,\"error\":\"receiver 0: image unavailable\"}");
        Exception e = assertThrows(Exception.class, () -> heard.result().get(WAIT_S, TimeUnit.SECONDS));
        assertTrue(e.getCause().getMessage().contains("token machine 0 failed: receiver 0: image unavailable"),
                e.getCause().getMessage());
        assertTrue(!engine.healthy());
        EngineRejectedException rejected = assertThrows(EngineRejectedException.class,
                () -> engine.submit(request(4), new TokenCollector()));
        assertEquals(503, rejected.status());
    }

    @Test
    void shouldCancelAWaitingRequestWithoutTouchingTheNodes() throws Exception {
        start(6, 6, 8);
        engine.submit(request(2), new TokenCollector()); // 4 + 2: the token machine's whole cache
        token.nextLine();
        prompt.nextLine();
        TokenCollector heard = new TokenCollector();
        var handle = engine.submit(request(6), heard);  // no machine has room now: it waits
        handle.cancel();
        assertEquals("cancelled", heard.result().get(WAIT_S, TimeUnit.SECONDS).finishReason());
        assertEquals(0, engine.queueDepths().get("waiting"));
    }

    /** A split request hears tokens 10 and 11, then its token machine goes down; its first id. */
    private String splitThenLoseTheTokenMachineAfterTwoTokens(TokenCollector heard) throws Exception {
        engine.submit(request(4), heard);
        String id = token.nextLine().get("id").asText();
        prompt.nextLine();
        prompt.send("{\"id\":\"" + id + "\",\"token\":10}");
        token.send("{\"id\":\"" + id + "\",\"token\":11}");
        awaitHeard(heard, 2);
        token.send("{\"node_failed\":true,\"error\":\"receiver 0: image unavailable\"}");
        return id;
    }

    /** The two links race, so wait until the listener heard {@code count} tokens. */
    private static void awaitHeard(TokenCollector heard, int count) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        while (heard.tokens().size() < count && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertEquals(count, heard.tokens().size(), "tokens heard");
    }

    private static Request request(int maxTokens) {
        return new Request(new int[] {5, 6, 7, 8}, maxTokens, SamplingParams.GREEDY, true, false);
    }

    /** One node's end of a pipe pair: what the engine sends it, and a way to answer. */
    private final class FakeNode {
        final NodeLink link;
        final BufferedReader fromEngine;
        final PrintStream toEngine;

        FakeNode(String name) throws IOException {
            // NIO pipes, unlike java.io's piped streams, do not tie either end to one thread
            Pipe toNode = Pipe.open();
            Pipe fromNode = Pipe.open();
            link = new NodeLink(name, Channels.newInputStream(fromNode.source()), Channels.newOutputStream(toNode.sink()));
            fromEngine = new BufferedReader(new InputStreamReader(Channels.newInputStream(toNode.source()),
                    StandardCharsets.UTF_8));
            toEngine = new PrintStream(Channels.newOutputStream(fromNode.sink()), true, StandardCharsets.UTF_8);
        }

        JsonNode nextLine() throws Exception {
            CompletableFuture<String> line = CompletableFuture.supplyAsync(() -> {
                try {
                    return fromEngine.readLine();
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            }, runnable -> Thread.ofPlatform().daemon().start(runnable));
            return json.readTree(line.get(WAIT_S, TimeUnit.SECONDS));
        }

        void send(String line) {
            toEngine.println(line);
        }
    }
}
