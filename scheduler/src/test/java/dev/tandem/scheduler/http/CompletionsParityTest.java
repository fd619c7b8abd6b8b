package dev.tandem.scheduler.http;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.compute.BackendSpec;
import dev.tandem.cuda.RequiresCuda;
import dev.tandem.scheduler.engine.ColocatedEngine;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.http.HttpClient;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static dev.tandem.scheduler.http.ApiFixtures.GREEDY_TOKENS;
import static dev.tandem.scheduler.http.ApiFixtures.csv;
import static dev.tandem.scheduler.http.ApiFixtures.events;
import static dev.tandem.scheduler.http.ApiFixtures.intArray;
import static dev.tandem.scheduler.http.ApiFixtures.post;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Completions over real HTTP against the colocated engine on the fixtures: transformers' greedy
 * tokens, whole and streamed (every token once, in order, the same text), and under 16
 * concurrent requests.
 */
class CompletionsParityTest {
    private static final int CONCURRENT = 16;
    private static final int KV_TOKENS = 4096;

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldReturnFixtureGreedyTokensWholeStreamedAndConcurrently(String model) throws Exception {
        check(model, new ColocatedEngine(ApiFixtures.fixture(model), model, ApiFixtures.THREADS, 256, KV_TOKENS, 256));
    }

    /** The same on a CUDA device in float32 (what `tandem serve --device cuda --dtype float32` runs). */
    @Tag("gpu")
    @ExtendWith(RequiresCuda.class)
    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldReturnFixtureGreedyTokensOnCuda(String model) throws Exception {
        check(model, new ColocatedEngine(ApiFixtures.fixture(model), model, new BackendSpec("cuda:0", "float32", 0), 256,
                KV_TOKENS, 0.9, 256, line -> System.err.println("tandem: " + line), 0));
    }

    private static void check(String model, ColocatedEngine colocated) throws Exception {
        List<ApiFixtures.Prompt> prompts = ApiFixtures.prompts(model);
        try (ColocatedEngine engine = colocated;
             HttpApiServer server = HttpApiServer.start(HttpApiContext.of(engine, new WordCodec()), "127.0.0.1", 0);
             HttpClient client = ApiFixtures.client()) {
            for (ApiFixtures.Prompt p : prompts) {
                assertEquals(GREEDY_TOKENS, p.greedy().length);
                String expectedText = WordCodec.text(p.greedy(), 0, p.greedy().length);

                JsonNode whole = post(client, server.port(), "/v1/completions", body(model, p, false)).json();
                assertEquals("text_completion", whole.get("object").asText());
                assertTrue(whole.get("id").asText().startsWith("cmpl-"));
                JsonNode choice = whole.get("choices").get(0);
                assertArrayEquals(p.greedy(), intArray(choice.get("token_ids")));
                assertEquals(expectedText, choice.get("text").asText());
                assertEquals("length", choice.get("finish_reason").asText());
                assertEquals(p.inputIds().length, whole.at("/usage/prompt_tokens").intValue());
                assertEquals(GREEDY_TOKENS, whole.at("/usage/completion_tokens").intValue());
                assertEquals(p.inputIds().length + GREEDY_TOKENS, whole.at("/usage/total_tokens").intValue());

                checkStream(post(client, server.port(), "/v1/completions", body(model, p, true)).body(), p,
                        expectedText);
                checkTextPromptAndChat(client, server.port(), model, p, expectedText);
            }
            checkConcurrent(client, server.port(), model, prompts);
        }
    }

    private static void checkStream(String sse, ApiFixtures.Prompt p, String expectedText) {
        List<JsonNode> events = events(sse);
        List<Integer> ids = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < events.size(); i++) {
            JsonNode choice = events.get(i).get("choices").get(0);
            assertEquals("text_completion", events.get(i).get("object").asText());
            choice.get("token_ids").forEach(id -> ids.add(id.intValue()));
            text.append(choice.get("text").asText());
            boolean last = i == events.size() - 1;
            assertEquals(last ? "length" : null, choice.get("finish_reason").textValue(), sse);
        }
        assertArrayEquals(p.greedy(), ids.stream().mapToInt(Integer::intValue).toArray());
        assertEquals(expectedText, text.toString());
        assertEquals(GREEDY_TOKENS + 1, events.size(), "a chunk per token, then the finish: " + sse);
    }

    /** The same tokens from the prompt as text, and as a chat (the test codec's chat is its contents). */
    private static void checkTextPromptAndChat(HttpClient client, int port, String model, ApiFixtures.Prompt p,
                                               String expectedText) {
        String promptText = WordCodec.text(p.inputIds(), 0, p.inputIds().length);
        JsonNode text = post(client, port, "/v1/completions", "{\"model\":\"" + model + "\",\"prompt\":\""
                + promptText + "\",\"max_tokens\":12,\"temperature\":0,\"ignore_eos\":true}").json();
        assertEquals(expectedText, text.at("/choices/0/text").asText());

        String chat = "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"" + promptText
                + "\"}],\"max_tokens\":12,\"temperature\":0,\"ignore_eos\":true";
        JsonNode whole = post(client, port, "/v1/chat/completions", chat + "}").json();
        assertEquals("chat.completion", whole.get("object").asText());
        assertEquals("assistant", whole.at("/choices/0/message/role").asText());
        assertEquals(expectedText, whole.at("/choices/0/message/content").asText());
        assertArrayEquals(p.greedy(), intArray(whole.at("/choices/0/token_ids")));

        List<JsonNode> events = events(post(client, port, "/v1/chat/completions",
                chat + ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}").body());
        assertEquals("assistant", events.getFirst().at("/choices/0/delta/role").asText());
        StringBuilder content = new StringBuilder();
        for (JsonNode e : events.subList(0, events.size() - 1)) {
            assertEquals("chat.completion.chunk", e.get("object").asText());
            content.append(e.at("/choices/0/delta/content").asText(""));
        }
        assertEquals(expectedText, content.toString());
        assertEquals("length", events.get(events.size() - 2).at("/choices/0/finish_reason").asText());
        JsonNode usage = events.getLast();
        assertEquals(0, usage.get("choices").size());
        assertEquals(GREEDY_TOKENS, usage.at("/usage/completion_tokens").intValue());
    }

    private static void checkConcurrent(HttpClient client, int port, String model, List<ApiFixtures.Prompt> prompts)
            throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(CONCURRENT);
        try {
            List<Future<JsonNode>> replies = new ArrayList<>();
            for (int r = 0; r < CONCURRENT; r++) {
                ApiFixtures.Prompt p = prompts.get(r % prompts.size());
                boolean stream = r % 2 == 1;
                replies.add(pool.submit(() -> {
                    String body = post(client, port, "/v1/completions", body(model, p, stream)).body();
                    if (!stream) {
                        return ApiFixtures.JSON.readTree(body).at("/choices/0/token_ids");
                    }
                    var ids = ApiFixtures.JSON.createArrayNode();
                    events(body).forEach(e -> e.at("/choices/0/token_ids").forEach(ids::add));
                    return ids;
                }));
            }
            for (int r = 0; r < CONCURRENT; r++) {
                assertArrayEquals(prompts.get(r % prompts.size()).greedy(),
                        intArray(replies.get(r).get(60, TimeUnit.SECONDS)), "request " + r);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private static String body(String model, ApiFixtures.Prompt p, boolean stream) {
        return "{\"model\":\"" + model + "\",\"prompt\":[" + csv(p.inputIds()) + "],\"max_tokens\":" + GREEDY_TOKENS
                + ",\"temperature\":0,\"ignore_eos\":true,\"stream\":" + stream + ",\"n\":1,\"logprobs\":null}";
    }
}
