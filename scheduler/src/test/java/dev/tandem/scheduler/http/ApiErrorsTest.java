package dev.tandem.scheduler.http;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.scheduler.engine.ColocatedEngine;
import dev.tandem.scheduler.engine.EngineRejectedException;
import dev.tandem.scheduler.metrics.ApiMetrics;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.net.http.HttpClient;

import static dev.tandem.scheduler.http.ApiFixtures.get;
import static dev.tandem.scheduler.http.ApiFixtures.post;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every refusal as OpenAI shapes it: status, error type, the field at fault, and the headers. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ApiErrorsTest {
    private static final String MODEL = "mixtral-tiny";
    private static final int CONTEXT = 4096; // the fixture's max_position_embeddings
    private static final int SMALL_BODY_LIMIT = 1024;

    private ColocatedEngine engine;
    private HttpApiServer withCodec;
    private HttpApiServer withoutCodec;
    private HttpClient client;

    @BeforeAll
    void start() {
        engine = new ColocatedEngine(ApiFixtures.fixture(MODEL), MODEL, ApiFixtures.THREADS, 256, 4096, 256);
        withCodec = HttpApiServer.start(new HttpApiContext(engine, new WordCodec(), new ApiMetrics(), SMALL_BODY_LIMIT, 1, null),
                "127.0.0.1", 0);
        withoutCodec = HttpApiServer.start(HttpApiContext.of(engine, null), "127.0.0.1", 0);
        client = ApiFixtures.client();
    }

    @AfterAll
    void stop() {
        client.close();
        withCodec.close();
        withoutCodec.close();
        engine.close();
    }

    @Test
    void shouldRefuseMalformedJsonAndWrongTypesNamingTheField() {
        assertError(completion("{\"model\":"), 400, "invalid_request_error", null, null);
        assertError(completion("[1,2]"), 400, "invalid_request_error", null, null);
        assertError(completion("{\"model\":\"mixtral-tiny\",\"prompt\":[1,2],\"temperature\":\"hot\"}"), 400,
                "invalid_request_error", "temperature", null);
        assertError(completion("{\"model\":\"mixtral-tiny\",\"prompt\":[1,\"a\"]}"), 400, "invalid_request_error",
                "prompt", null);
        assertError(completion("{\"model\":\"mixtral-tiny\"}"), 400, "invalid_request_error", "prompt", null);
        assertError(completion("{\"model\":\"mixtral-tiny\",\"prompt\":[1,2],\"stream\":1}"), 400,
                "invalid_request_error", "stream", null);
        assertError(post(client, withCodec.port(), "/v1/chat/completions",
                        "{\"model\":\"mixtral-tiny\",\"messages\":[{\"role\":\"user\",\"content\":5}]}"), 400,
                "invalid_request_error", "messages[0].content", null);
    }

    @Test
    void shouldRefuseWhatItCannotHonour() {
        assertError(completion(request("\"n\":0")), 400, "invalid_request_error", "n", null);
        assertError(completion(request("\"n\":33")), 400, "invalid_request_error", "n", null);
        assertError(completion(request("\"temperature\":3")), 400, "invalid_request_error", "temperature", null);
        assertError(completion(request("\"top_p\":0")), 400, "invalid_request_error", "top_p", null);
        assertError(completion(request("\"max_tokens\":0")), 400, "invalid_request_error", "max_tokens", null);
        assertError(completion(request("\"logprobs\":21")), 400, "invalid_request_error", "logprobs", null);
        assertError(completion(request("\"logprobs\":true")), 400, "invalid_request_error", "logprobs", null);
        assertError(completion(request("\"frequency_penalty\":0.5")), 400, "invalid_request_error", "frequency_penalty",
                null);
        assertError(completion(request("\"presence_penalty\":-1")), 400, "invalid_request_error", "presence_penalty",
                null);
        assertError(completion(request("\"n\":3,\"best_of\":2")), 400, "invalid_request_error", "best_of", null);
        assertError(completion(request("\"best_of\":33")), 400, "invalid_request_error", "best_of", null);
        assertError(completion(request("\"best_of\":3,\"stream\":true")), 400, "invalid_request_error", "best_of",
                null);
        assertError(completion(request("\"best_of\":3,\"echo\":true")), 400, "invalid_request_error", "best_of",
                null);
        assertError(completion(request("\"logit_bias\":{\"5\":1}")), 400, "invalid_request_error", "logit_bias", null);
        assertError(completion(request("\"suffix\":\"x\"")), 400, "invalid_request_error", "suffix", null);
        assertError(completion(request("\"top_k\":-2")), 400, "invalid_request_error", "top_k", null);
        assertError(completion(request("\"min_p\":1.5")), 400, "invalid_request_error", "min_p", null);
        assertError(completion(request("\"tools\":[{\"type\":\"function\"}]")), 400, "invalid_request_error", "tools", null);
        assertError(completion(request("\"tool_choice\":\"auto\"")), 400, "invalid_request_error", "tool_choice", null);
        assertError(completion(request("\"response_format\":{\"type\":\"json_object\"}")), 400, "invalid_request_error",
                "response_format", null);
        assertError(completion(request("\"guided_regex\":\"a+\"")), 400, "invalid_request_error", "guided_regex", null);
        assertError(completion(request("\"stop_token_ids\":[\"x\"]")), 400, "invalid_request_error", "stop_token_ids",
                null);
        // the defaults of those fields ask for nothing different: taken
        assertEquals(200, completion(request("\"top_k\":-1,\"min_p\":0,\"tool_choice\":\"none\",\"tools\":[],"
                + "\"response_format\":{\"type\":\"text\"}")).status());
        // top_k 1 is greedy whatever the temperature: the fixture's greedy tokens
        ApiFixtures.Prompt p = ApiFixtures.prompts(MODEL).getFirst();
        ApiFixtures.Reply topOne = completion("{\"model\":\"mixtral-tiny\",\"prompt\":[" + ApiFixtures.csv(p.inputIds())
                + "],\"max_tokens\":12,\"temperature\":1.5,\"top_k\":1,\"ignore_eos\":true}");
        assertArrayEquals(p.greedy(), ApiFixtures.intArray(topOne.json().at("/choices/0/token_ids")), topOne.body());
        assertError(completion(request("\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]")), 400, "invalid_request_error",
                "stop", null);
        assertError(completion("{\"model\":\"mixtral-tiny\",\"prompt\":[" + "[1],".repeat(64) + "[3]]}"), 400,
                "invalid_request_error", "prompt", null);   // 65 prompts: more than a request may carry
        assertError(completion("{\"model\":\"mixtral-tiny\",\"prompt\":[[1,2],5]}"), 400, "invalid_request_error",
                "prompt", null);
        assertError(completion("{\"model\":\"mixtral-tiny\",\"prompt\":[1,512]}"), 400, "invalid_request_error",
                "prompt", null);
    }

    @Test
    void shouldRefuseATopPThatIsZeroInFloat32() {
        assertError(completion(request("\"top_p\":5e-324")), 400, "invalid_request_error", "top_p", null);
        assertEquals(200, completion(request("\"top_p\":1.5e-45,\"temperature\":1")).status(), "the smallest float");
    }

    /** A 100 KB header: 431, then the connection closes (the decoder cannot be trusted past it). */
    @Test
    void shouldAnswer431ForHeadersOverTheLimitAndClose() throws Exception {
        try (java.net.Socket socket = new java.net.Socket("127.0.0.1", withCodec.port())) {
            socket.setSoTimeout(10_000);
            String request = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + "a".repeat(100_000) + "\r\n\r\n";
            socket.getOutputStream().write(request.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
            byte[] all = socket.getInputStream().readAllBytes(); // returns only once the server closes
            String reply = new String(all, java.nio.charset.StandardCharsets.US_ASCII);
            assertTrue(reply.startsWith("HTTP/1.1 431"), reply.lines().findFirst().orElse("(nothing)"));
            assertTrue(reply.contains("request_header_fields_too_large"), reply);
        }
    }

    /** Pipelined: a completion, then a health check sent before it is answered: answered in that order. */
    @Test
    void shouldAnswerPipelinedRequestsInOrder() throws Exception {
        String body = request("\"max_tokens\":8,\"ignore_eos\":true");
        String pipelined = "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Content-Length: " + body.length() + "\r\n\r\n" + body
                + "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                + "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        try (java.net.Socket socket = new java.net.Socket("127.0.0.1", withCodec.port())) {
            socket.setSoTimeout(30_000);
            socket.getOutputStream().write(pipelined.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
            String reply = new String(socket.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            int completion = reply.indexOf("\"text_completion\"");
            int health = reply.indexOf("\"status\":\"ok\"");
            int models = reply.indexOf("\"object\":\"list\"");
            assertTrue(completion >= 0 && health > completion && models > health,
                    "responses out of order (completion at " + completion + ", health at " + health + ", models at "
                            + models + "): " + reply);
            assertEquals(3, reply.split("HTTP/1.1 200", -1).length - 1, reply);
        }
    }

    @Test
    void shouldWantAJsonBodyDeclaredSoAndNothingAfterIt() {
        ApiFixtures.Reply plain = ApiFixtures.send(client, java.net.http.HttpRequest.newBuilder(
                        java.net.URI.create("http://127.0.0.1:" + withCodec.port() + "/v1/completions"))
                .header("Content-Type", "text/plain").POST(java.net.http.HttpRequest.BodyPublishers.ofString(request(""))).build());
        assertError(plain, 415, "invalid_request_error", null, "unsupported_media_type");
        ApiFixtures.Reply none = ApiFixtures.send(client, java.net.http.HttpRequest.newBuilder(
                        java.net.URI.create("http://127.0.0.1:" + withCodec.port() + "/v1/completions"))
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString(request(""))).build());
        assertError(none, 415, "invalid_request_error", null, "unsupported_media_type");
        assertEquals(200, ApiFixtures.send(client, java.net.http.HttpRequest.newBuilder(
                        java.net.URI.create("http://127.0.0.1:" + withCodec.port() + "/v1/completions"))
                .header("Content-Type", "application/json; charset=utf-8")
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString(request(""))).build()).status(), "with a charset");
        assertError(completion(request("") + "{\"more\":1}"), 400, "invalid_request_error", null, null);
        assertError(completion(request("") + " garbage"), 400, "invalid_request_error", null, null);
    }

    @Test
    void shouldWantTheApiKeyOnEveryV1RouteWhenOneIsSet() {
        try (HttpApiServer keyed = HttpApiServer.start(HttpApiContext.of(engine, null, "s3cret"), "127.0.0.1", 0)) {
            String body = "{\"prompt\":[1,17,42],\"max_tokens\":2}";
            assertError(post(client, keyed.port(), "/v1/completions", body), 401, "invalid_request_error", null,
                    "invalid_api_key");
            assertError(get(client, keyed.port(), "/v1/models"), 401, "invalid_request_error", null, "invalid_api_key");
            ApiFixtures.Reply wrong = ApiFixtures.send(client, java.net.http.HttpRequest.newBuilder(
                    java.net.URI.create("http://127.0.0.1:" + keyed.port() + "/v1/models"))
                    .header("Authorization", "Bearer s3cre").GET().build());
            assertEquals(401, wrong.status());
            ApiFixtures.Reply right = ApiFixtures.send(client, java.net.http.HttpRequest.newBuilder(
                    java.net.URI.create("http://127.0.0.1:" + keyed.port() + "/v1/completions"))
                    .header("Authorization", "Bearer s3cret").header("Content-Type", "application/json")
                    .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body)).build());
            assertEquals(200, right.status(), right.body());
            assertEquals(200, get(client, keyed.port(), "/health").status(), "health stays open, as vLLM's");
        }
    }

    @Test
    void shouldRefuseBrowsersFromOtherOriginsAndAnswerAllowedOnesWithCorsHeaders() {
        java.util.function.BiFunction<Integer, String, java.net.http.HttpRequest.Builder> to = (port, path) ->
                java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + port + path));
        assertError(ApiFixtures.send(client, to.apply(withCodec.port(), "/v1/models").header("Origin", "https://app.example")
                .GET().build()), 403, "invalid_request_error", null, "origin_not_allowed");
        assertEquals(200, get(client, withCodec.port(), "/v1/models").status(), "no Origin: not a browser, answered");
        try (HttpApiServer open = HttpApiServer.start(HttpApiContext.of(engine, null)
                .withAllowedOrigins(java.util.Set.of("https://app.example")), "127.0.0.1", 0)) {
            ApiFixtures.Reply allowed = ApiFixtures.send(client, to.apply(open.port(), "/v1/models")
                    .header("Origin", "https://app.example").GET().build());
            assertEquals(200, allowed.status());
            assertEquals("https://app.example", allowed.response().headers().firstValue("Access-Control-Allow-Origin")
                    .orElse(null));
            ApiFixtures.Reply preflight = ApiFixtures.send(client, to.apply(open.port(), "/v1/completions")
                    .header("Origin", "https://app.example").header("Access-Control-Request-Method", "POST")
                    .method("OPTIONS", java.net.http.HttpRequest.BodyPublishers.noBody()).build());
            assertEquals(204, preflight.status());
            assertTrue(preflight.response().headers().firstValue("Access-Control-Allow-Headers").orElse("")
                    .contains("Authorization"));
            assertError(ApiFixtures.send(client, to.apply(open.port(), "/v1/models").header("Origin", "https://evil.example")
                    .GET().build()), 403, "invalid_request_error", null, "origin_not_allowed");
        }
    }

    @Test
    void shouldTakeAOneElementPromptArrayAndIgnoreUnknownFields() {
        ApiFixtures.Reply reply = completion("{\"model\":\"mixtral-tiny\",\"prompt\":[[1,17,42]],\"max_tokens\":2,"
                + "\"frobnicate\":{\"x\":1},\"user\":\"me\"}");
        assertEquals(200, reply.status(), reply.body());
        assertEquals(2, reply.json().at("/usage/completion_tokens").intValue());
    }

    @Test
    void shouldAnswer404ForAnotherModelOrAnUnknownPathAnd405ForTheWrongMethod() {
        assertError(completion("{\"model\":\"gpt-4\",\"prompt\":[1,2]}"), 404, "invalid_request_error", "model",
                "model_not_found");
        assertError(get(client, withCodec.port(), "/v1/nothing"), 404, "invalid_request_error", null, "not_found");
        ApiFixtures.Reply wrongMethod = get(client, withCodec.port(), "/v1/completions");
        assertError(wrongMethod, 405, "invalid_request_error", null, "method_not_allowed");
        assertEquals("POST", wrongMethod.response().headers().firstValue("Allow").orElseThrow());
    }

    @Test
    void shouldAnswer400ForAPromptOrMaxTokensPastTheContextAnd413ForABodyOverTheLimit() {
        int[] prompt = new int[CONTEXT];
        assertError(post(client, withoutCodec.port(), "/v1/completions", "{\"model\":\"mixtral-tiny\",\"prompt\":["
                        + ApiFixtures.csv(prompt) + "]}"), 400, "invalid_request_error", "prompt",
                "context_length_exceeded");
        // as vLLM: a max_tokens the context cannot hold is refused, not silently clamped
        String nearlyFull = "{\"model\":\"mixtral-tiny\",\"ignore_eos\":true,\"prompt\":["
                + ApiFixtures.csv(new int[CONTEXT - 6]) + "],\"max_tokens\":";
        ApiFixtures.Reply tooMany = post(client, withoutCodec.port(), "/v1/completions", nearlyFull + "7}");
        assertError(tooMany, 400, "invalid_request_error", "max_tokens", "context_length_exceeded");
        assertTrue(tooMany.json().at("/error/message").asText().contains("maximum context length is " + CONTEXT),
                tooMany.body());
        ApiFixtures.Reply fits = post(client, withoutCodec.port(), "/v1/completions", nearlyFull + "6}");
        assertEquals(200, fits.status(), fits.body());
        assertEquals(6, fits.json().at("/usage/completion_tokens").intValue(), "prompt + max_tokens = the context");
        String padding = "x".repeat(2 * SMALL_BODY_LIMIT);
        assertError(completion("{\"model\":\"mixtral-tiny\",\"prompt\":\"" + padding + "\"}"), 413,
                "invalid_request_error", null, "request_too_large");
    }

    /**
     * A text prompt longer than twice the context times the longest token is refused before it is
     * tokenized; a shorter one with too many tokens after it is (off the event loop), as before.
     */
    @Test
    void shouldRefuseATextPromptTooLongForTheContextBeforeTokenizingIt() {
        try (HttpApiServer large = HttpApiServer.start(new HttpApiContext(engine, new WordCodec(), new ApiMetrics(),
                1 << 20, 1, null), "127.0.0.1", 0)) {
            int limit = 2 * CONTEXT * new WordCodec().longestTokenChars();
            String tooLong = "t1,".repeat(limit / 3 + 1);
            ApiFixtures.Reply refused = post(client, large.port(), "/v1/completions",
                    "{\"model\":\"mixtral-tiny\",\"prompt\":\"" + tooLong + "\"}");
            assertError(refused, 400, "invalid_request_error", "prompt", "context_length_exceeded");
            assertTrue(refused.json().at("/error/message").asText().contains("characters"), refused.body());
            ApiFixtures.Reply tokenized = post(client, large.port(), "/v1/completions",
                    "{\"model\":\"mixtral-tiny\",\"prompt\":\"" + "t1,".repeat(CONTEXT) + "\"}");
            assertError(tokenized, 400, "invalid_request_error", "prompt", "context_length_exceeded");
            assertTrue(tokenized.json().at("/error/message").asText().contains(CONTEXT + " tokens"), tokenized.body());
        }
    }

    @Test
    void shouldRefuseTextWithoutATokenizerButServeTokenIdsWithEmptyText() {
        assertError(post(client, withoutCodec.port(), "/v1/completions", "{\"model\":\"mixtral-tiny\",\"prompt\":\"hi\"}"),
                400, "invalid_request_error", "prompt", null);
        assertTrue(post(client, withoutCodec.port(), "/v1/completions", "{\"model\":\"mixtral-tiny\",\"prompt\":\"hi\"}")
                .json().at("/error/message").asText().contains("no tokenizer"));
        assertError(post(client, withoutCodec.port(), "/v1/chat/completions",
                        "{\"model\":\"mixtral-tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"),
                400, "invalid_request_error", "messages", null);
        ApiFixtures.Reply ids = post(client, withoutCodec.port(), "/v1/completions",
                "{\"model\":\"mixtral-tiny\",\"prompt\":[1,17,42],\"max_tokens\":3,\"ignore_eos\":true}");
        assertEquals(200, ids.status(), ids.body());
        assertEquals("", ids.json().at("/choices/0/text").asText());
        assertEquals(3, ids.json().at("/choices/0/token_ids").size());
    }

    @Test
    void shouldAnswer429WithRetryAfterWhenTheEngineQueueIsFull() {
        try (ColocatedEngine full = new ColocatedEngine(ApiFixtures.fixture(MODEL), MODEL, 1, 64, 256, 0);
             HttpApiServer server = HttpApiServer.start(HttpApiContext.of(full, null), "127.0.0.1", 0)) {
            ApiFixtures.Reply reply = post(client, server.port(), "/v1/completions", request(""));
            assertError(reply, 429, "rate_limit_error", null, "rate_limit_exceeded");
            assertEquals("1", reply.response().headers().firstValue("Retry-After").orElseThrow());
        }
    }

    @Test
    void shouldAnswer503WhenNoMachineCanServeAndReportHealth() {
        StubEngine engine = new StubEngine((r, l) -> {
            throw new EngineRejectedException(503, 0, "no token machine is up");
        });
        try (HttpApiServer server = HttpApiServer.start(HttpApiContext.of(engine, null), "127.0.0.1", 0)) {
            ApiFixtures.Reply reply = post(client, server.port(), "/v1/completions",
                    "{\"model\":\"stub\",\"prompt\":[1,2]}");
            assertError(reply, 503, "service_unavailable", null, null);
            assertEquals("no token machine is up", reply.json().at("/error/message").asText());
            assertEquals(200, get(client, server.port(), "/health").status());
            assertEquals("ok", get(client, server.port(), "/health").json().get("status").asText());
            engine.close();
            assertEquals(503, get(client, server.port(), "/health").status());
        }
    }

    @Test
    void shouldReportAnEngineFailureAsAnErrorResponseOrAnErrorEvent() throws Exception {
        StubEngine engine = StubEngine.failingAfterOneToken(7, "expert node 1 died");
        try (HttpApiServer server = HttpApiServer.start(HttpApiContext.of(engine, new WordCodec()), "127.0.0.1", 0)) {
            ApiFixtures.Reply whole = post(client, server.port(), "/v1/completions", "{\"model\":\"stub\",\"prompt\":[1]}");
            assertError(whole, 503, "service_unavailable", null, null);
            assertEquals("expert node 1 died", whole.json().at("/error/message").asText());

            String sse = post(client, server.port(), "/v1/completions",
                    "{\"model\":\"stub\",\"prompt\":[1],\"stream\":true}").body();
            String[] events = sse.split("\n\n");
            assertEquals(2, events.length, sse);
            JsonNode token = ApiFixtures.JSON.readTree(events[0].substring("data: ".length()));
            assertEquals("t7,", token.at("/choices/0/text").asText());
            JsonNode error = ApiFixtures.JSON.readTree(events[1].substring("data: ".length()));
            assertEquals("expert node 1 died", error.at("/error/message").asText());
            assertEquals("service_unavailable", error.at("/error/type").asText());
        }
    }

    @Test
    void shouldListTheServedModelWithItsContextAndVocabulary() {
        JsonNode models = get(client, withCodec.port(), "/v1/models").json();
        assertEquals("list", models.get("object").asText());
        JsonNode model = models.get("data").get(0);
        assertEquals(MODEL, model.get("id").asText());
        assertEquals("model", model.get("object").asText());
        assertEquals("tandem", model.get("owned_by").asText());
        assertEquals(CONTEXT, model.get("max_model_len").intValue());
        assertEquals(512, model.get("vocab_size").intValue());
    }

    private ApiFixtures.Reply completion(String body) {
        return post(client, withCodec.port(), "/v1/completions", body);
    }

    private static String request(String extra) {
        return "{\"model\":\"mixtral-tiny\",\"prompt\":[1,17,42],\"max_tokens\":2" + (extra.isEmpty() ? "" : "," + extra)
                + "}";
    }

    private static void assertError(ApiFixtures.Reply reply, int status, String type, String param, String code) {
        assertEquals(status, reply.status(), reply.body());
        assertTrue(reply.response().headers().firstValue("Content-Type").orElseThrow().startsWith("application/json"));
        JsonNode error = reply.json().get("error");
        assertEquals(type, error.get("type").asText(), reply.body());
        assertEquals(param, error.get("param").textValue(), reply.body());
        assertEquals(code, error.get("code").textValue(), reply.body());
        assertFalse(error.get("message").asText().isEmpty());
    }

}
