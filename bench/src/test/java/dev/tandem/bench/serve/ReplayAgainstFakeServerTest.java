package dev.tandem.bench.serve;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.http.HttpClient;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReplayAgainstFakeServerTest {
    private static final long FIRST_TOKEN_MS = 50;
    private static final long TBT_MS = 10;
    /** Scheduling noise allowed on a busy 2-core machine, ms. */
    private static final double SLACK_MS = 40;

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private FakeCompletionServer server;

    @AfterEach
    void close() throws InterruptedException {
        if (server != null) {
            server.close();
        }
        http.close();
    }

    private StreamingClient client(int tokensPerChunk, java.util.function.IntUnaryOperator status) throws IOException {
        server = new FakeCompletionServer(FIRST_TOKEN_MS, TBT_MS, tokensPerChunk, status);
        return new StreamingClient(http, server.url(), FakeCompletionServer.MODEL, new PromptFactory(1, 100, 1000), null, true);
    }

    @Test
    void shouldMeasureTheFakesTtftTbtAndE2e() throws IOException {
        StreamingClient client = client(1, p -> 200);
        client.send(new PlannedRequest(0, 0, 5, 2), System.nanoTime()); // warm-up: connection, class loading, JIT
        RequestOutcome o = client.send(new PlannedRequest(0, 0, 5, 6), System.nanoTime());
        assertTrue(o.ok(), o.errorMessage());
        assertEquals(6, o.outputTokens());
        assertTrue(o.ttftMs() >= FIRST_TOKEN_MS && o.ttftMs() < FIRST_TOKEN_MS + SLACK_MS, "TTFT " + o.ttftMs());
        assertEquals(5, o.tbtMs().length);
        double medianGap = Percentiles.of(o.tbtMs(), 0.5);
        assertTrue(medianGap >= TBT_MS - 2 && medianGap < TBT_MS + 10, "TBT " + Arrays.toString(o.tbtMs()));
        double expectedE2e = FIRST_TOKEN_MS + 5 * TBT_MS;
        assertTrue(o.e2eMs() >= expectedE2e && o.e2eMs() < expectedE2e + SLACK_MS, "E2E " + o.e2eMs());
        int[] prompt = server.prompts.getFirst();
        assertEquals(5, prompt.length);
        assertTrue(Arrays.stream(prompt).allMatch(id -> id >= 100 && id < 1000), Arrays.toString(prompt));
    }

    /** --endpoint chat: a user message of the planned number of words, tokens counted from the usage chunk. */
    @Test
    void shouldSendChatMessagesAndCountTheirTokensFromUsage() throws IOException {
        server = new FakeCompletionServer(FIRST_TOKEN_MS, TBT_MS, 2, p -> 200, true);
        StreamingClient chat = new StreamingClient(http, server.url(), FakeCompletionServer.MODEL,
                new PromptFactory(1, 100, 1000), null, false, true);
        chat.send(new PlannedRequest(0, 0, 4, 2), System.nanoTime());
        RequestOutcome o = chat.send(new PlannedRequest(1, 0, 9, 5), System.nanoTime()); // 1, then 2, then 2
        assertTrue(o.ok(), o.errorMessage());
        assertEquals(5, o.outputTokens(), "from usage.completion_tokens");
        assertEquals(4, o.tbtMs().length);
        String message = server.messages.getLast();
        assertEquals(9, message.split(" ").length, message);
        assertTrue(message.matches("[a-z ]+"), message);
        assertEquals(new PromptFactory(1, 100, 1000).text(1, 9), message, "the same index, the same words");
        assertTrue(!server.messages.getFirst().equals(message), "another index, other words");
    }

    /**
     * A strict OpenAI server: ignore_eos is refused (400) unless --no-ignore-eos, and tokens, several a
     * chunk and without token_ids, are counted from the usage chunk and spread over the chunks.
     */
    @Test
    void shouldCountTokensFromUsageOnAStrictServer() throws IOException {
        server = new FakeCompletionServer(FIRST_TOKEN_MS, TBT_MS, 3, p -> 200, true);
        StreamingClient vllmStyle = new StreamingClient(http, server.url(), FakeCompletionServer.MODEL,
                new PromptFactory(1, 100, 1000), null, true);
        RequestOutcome refused = vllmStyle.send(new PlannedRequest(0, 0, 4, 7), System.nanoTime());
        assertEquals(400, refused.status(), "a strict server refuses ignore_eos");
        StreamingClient strict = new StreamingClient(http, server.url(), FakeCompletionServer.MODEL,
                new PromptFactory(1, 100, 1000), null, false);
        strict.send(new PlannedRequest(0, 0, 4, 2), System.nanoTime());
        RequestOutcome o = strict.send(new PlannedRequest(0, 0, 4, 7), System.nanoTime()); // 1, then 3, then 3
        assertTrue(o.ok(), o.errorMessage());
        assertEquals(7, o.outputTokens(), "from usage.completion_tokens");
        assertEquals(6, o.tbtMs().length, "every token after the first chunk's");
        double meanGap = Arrays.stream(o.tbtMs()).average().orElseThrow();
        assertTrue(meanGap >= TBT_MS - 2 && meanGap < TBT_MS + 10, "TBT " + Arrays.toString(o.tbtMs()));
    }

    @Test
    void shouldSpreadAChunksGapOverItsTokens() throws IOException {
        StreamingClient client = client(3, p -> 200); // 1 token, then 3 after 30 ms, then 3 after 30 ms
        client.send(new PlannedRequest(0, 0, 4, 2), System.nanoTime());
        RequestOutcome o = client.send(new PlannedRequest(0, 0, 4, 7), System.nanoTime());
        assertEquals(7, o.outputTokens());
        assertEquals(6, o.tbtMs().length);
        for (int i = 0; i < 6; i += 3) {
            assertEquals(o.tbtMs()[i], o.tbtMs()[i + 2], 1e-12, "a chunk's tokens share its gap");
        }
        // the mean: a late first chunk shortens the next gap by what it lengthened TTFT, the sum stays
        double meanGap = Arrays.stream(o.tbtMs()).average().orElseThrow();
        assertTrue(meanGap >= TBT_MS - 2 && meanGap < TBT_MS + 10, "TBT " + Arrays.toString(o.tbtMs()));
    }

    @Test
    void shouldCountRefusalsByStatus() throws IOException {
        StreamingClient client = client(1, p -> switch (p) {
            case 3 -> 429;
            case 4 -> 503;
            case 5 -> 400;
            default -> 200;
        });
        List<PlannedRequest> plan = new ArrayList<>();
        int[] prompts = {3, 4, 5, 6, 3, 6};
        for (int i = 0; i < prompts.length; i++) {
            plan.add(new PlannedRequest(i, i * 0.005, prompts[i], 2));
        }
        List<RequestOutcome> outcomes = new Replayer(client, 5, 0).replay(plan, new ProgressBar(null, "test"));
        RateReport report = RateReport.of(200, 0.03, outcomes, new UnloadedBaseline(FIRST_TOKEN_MS, 0, TBT_MS, 50, List.of()));
        assertEquals(Map.of("http_429", 2, "http_503", 1, "http_400", 1), report.errors());
        assertEquals("fake 429", report.errorSamples().get("http_429"));
        assertEquals(2, report.completed());
        assertEquals(4, report.outputTokensPerSecond() * report.wallSeconds(), 1e-9);
        assertEquals(Double.POSITIVE_INFINITY, report.slo().get(2).slowdown(), "failures are TTFT misses");
    }

    @Test
    void shouldKeepAtMostMaxConcurrencyRequestsInFlight() throws IOException {
        StreamingClient client = client(1, p -> 200);
        List<PlannedRequest> plan = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            plan.add(new PlannedRequest(i, 0, 4, 3));               // all due at once
        }
        List<RequestOutcome> outcomes = new Replayer(client, 5, 1).replay(plan, new ProgressBar(null, "test"));
        assertTrue(outcomes.stream().allMatch(RequestOutcome::ok));
        List<Long> arrivals = server.arrivals.stream().sorted().toList();
        long oneRequestMs = FIRST_TOKEN_MS + 2 * TBT_MS;             // the fake's time for 3 tokens
        for (int i = 1; i < arrivals.size(); i++) {
            assertTrue((arrivals.get(i) - arrivals.get(i - 1)) / 1e6 >= oneRequestMs - 2,
                    "request " + i + " waited for a slot: " + arrivals);
        }
    }

    @Test
    void shouldSendOnScheduleWhileEarlierRequestsAreOutstanding() throws IOException {
        StreamingClient client = client(1, p -> 200);
        List<PlannedRequest> plan = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            plan.add(new PlannedRequest(i, i * 0.04, 8, 20)); // each takes ≥ 240 ms, one sent every 40 ms
        }
        List<RequestOutcome> outcomes = new Replayer(client, 5, 0).replay(plan, new ProgressBar(null, "test"));
        assertTrue(outcomes.stream().allMatch(RequestOutcome::ok));
        List<Long> arrivals = server.arrivals.stream().sorted().toList();
        // 60 ms of slack for a loaded 2-core machine: still far from the 240 ms a request would add
        // if sending waited for the previous answer
        for (int i = 1; i < 5; i++) {
            double atMs = (arrivals.get(i) - arrivals.getFirst()) / 1e6;
            assertEquals(i * 40, atMs, 60, "arrival " + i + " at " + atMs + " ms");
        }
        for (RequestOutcome o : outcomes) {
            assertEquals(o.request().sendAtSeconds() * 1e3, o.sentAtMs(), 60);
        }
    }

    @Test
    void shouldAbandonRequestsUnfinishedAtTheDeadline() throws IOException {
        StreamingClient client = client(1, p -> 200);
        List<RequestOutcome> outcomes = new Replayer(client, 0.1, 0)
                .replay(List.of(new PlannedRequest(0, 0, 4, 60)), new ProgressBar(null, "test")); // 640 ms
        assertEquals(RequestOutcome.ERROR_TIMEOUT, outcomes.getFirst().error());
    }
}
