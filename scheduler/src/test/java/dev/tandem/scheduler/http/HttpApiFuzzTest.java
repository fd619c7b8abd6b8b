package dev.tandem.scheduler.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.scheduler.engine.ColocatedEngine;
import dev.tandem.scheduler.metrics.ApiMetrics;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A seeded fuzzing campaign against the HTTP API (mixtral-tiny on the CPU, a real SentencePiece
 * tokenizer): valid completion and chat bodies with fields set to hostile values (wrong types,
 * extreme numbers, huge strings, ids past the vocabulary), bodies cut or with bytes flipped,
 * wrong methods, paths and content types. Every answer must be an OpenAI-shaped JSON error of a
 * 4xx status, or a success whose body parses (SSE ending in [DONE] for streams); never a 5xx
 * other than 503, never a hang past the client's timeout; and the server answers /health after.
 * The status counts it prints are the figures in bench/RELIABILITY.md.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HttpApiFuzzTest {
    private static final String MODEL = "mixtral-tiny";
    private static final int REQUESTS = 5000;
    private static final long SEED = 20261202L;
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final List<String> FIELDS = List.of("model", "prompt", "messages", "max_tokens", "temperature",
            "top_p", "top_k", "min_p", "n", "best_of", "stream", "stream_options", "stop", "stop_token_ids", "seed",
            "logprobs", "top_logprobs", "echo", "ignore_eos", "include_stop_str_in_output", "presence_penalty",
            "frequency_penalty", "logit_bias", "user", "tools", "response_format", "max_completion_tokens",
            "suffix", "skip_special_tokens", "x_unknown");
    private static final List<String> PATHS = List.of("/v1/completions", "/v1/chat/completions", "/tokenize",
            "/detokenize", "/v1/models", "/v1/models/" + MODEL, "/v1/models/nope", "/health", "/metrics", "/version",
            "/ping", "/v1/embeddings", "/", "/v1/completions/../models", "/v1/completions?x=1", "/v1/%7Bx%7D");

    private final JsonNodeFactory nodes = JsonNodeFactory.instance;
    private ColocatedEngine engine;
    private HttpApiServer server;
    private HttpClient client;

    @BeforeAll
    void start() {
        engine = new ColocatedEngine(ApiFixtures.fixture(MODEL), MODEL, ApiFixtures.THREADS, 256, 4096, 256);
        TokenizerTextCodec codec = TokenizerTextCodec.load(tokenizer("spm-32k"));
        server = HttpApiServer.start(new HttpApiContext(engine, codec, new ApiMetrics(MODEL), 1 << 20, 2, null),
                "127.0.0.1", 0);
        client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(TIMEOUT).build();
    }

    @AfterAll
    void stop() {
        client.close();
        server.close();
        engine.close();
    }

    private static Path tokenizer(String name) {
        return Path.of("").toAbsolutePath().resolveSibling("core").resolve("src/test/resources/tokenizers").resolve(name);
    }

    @Test
    void shouldAnswerEveryFuzzedRequestWithAnOpenAiShapedReplyAndStayUp() {
        SplittableRandom random = new SplittableRandom(SEED);
        Map<Integer, Integer> statuses = new TreeMap<>();
        for (int i = 0; i < REQUESTS; i++) {
            HttpRequest request = fuzzed(random, i);
            ApiFixtures.Reply reply;
            try {
                reply = ApiFixtures.send(client, request);
            } catch (AssertionError e) {
                throw new AssertionError("request " + i + " " + request.method() + " " + request.uri()
                        + " got no answer within " + TIMEOUT + ": " + e.getMessage(), e);
            }
            statuses.merge(reply.status(), 1, Integer::sum);
            check(i, request, reply);
        }
        System.out.println("HttpApiFuzzTest: " + REQUESTS + " requests (seed " + SEED + "), statuses " + statuses);
        assertEquals(200, ApiFixtures.get(client, server.port(), "/health").status(), "the server is still up");
        assertTrue(statuses.getOrDefault(200, 0) > 0, "some fuzzed requests were valid and served: " + statuses);
        assertTrue(statuses.getOrDefault(400, 0) > 0, "some were refused: " + statuses);
    }

    private void check(int i, HttpRequest request, ApiFixtures.Reply reply) {
        String what = "request " + i + " " + request.method() + " " + request.uri() + " → " + reply.status() + ": "
                + abbreviate(reply.body());
        int status = reply.status();
        assertTrue(status < 500 || status == 503, what);
        String type = reply.response().headers().firstValue("Content-Type").orElse("");
        if (status >= 400) {
            if (status == 404 && !request.uri().getPath().startsWith("/v1/")) {
                return; // a path outside the API: any 404 will do
            }
            assertTrue(type.startsWith("application/json"), "an error is JSON: " + what);
            JsonNode error = reply.json().get("error");
            assertNotNull(error, "an OpenAI error object: " + what);
            assertFalse(error.path("message").asText().isEmpty(), "with a message: " + what);
            assertTrue(error.path("type").isTextual(), "and a type: " + what);
        } else if (type.startsWith("text/event-stream")) {
            ApiFixtures.events(reply.body()); // parses, ends with [DONE]
        } else if (type.startsWith("application/json")) {
            reply.json();
        }
    }

    /** One request of the campaign: a mutated valid body most of the time, else bytes, paths or methods. */
    private HttpRequest fuzzed(SplittableRandom random, int i) {
        boolean chat = random.nextInt(3) == 0;
        String path = chat ? "/v1/chat/completions" : "/v1/completions";
        String contentType = "application/json";
        String method = "POST";
        String body;
        int kind = random.nextInt(10);
        if (kind < 6) {
            body = mutatedFields(random, chat).toString();
        } else if (kind < 8) {
            body = mutatedBytes(random, valid(random, chat).toString());
        } else if (kind == 8) {
            path = PATHS.get(random.nextInt(PATHS.size()));
            method = List.of("GET", "POST", "PUT", "DELETE").get(random.nextInt(4));
            body = random.nextBoolean() ? valid(random, chat).toString() : "";
        } else {
            contentType = List.of("text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-8",
                    "application/jsonx", "").get(random.nextInt(5));
            body = valid(random, chat).toString() + (random.nextBoolean() ? "" : " {\"trailing\":1}");
        }
        HttpRequest.Builder builder = HttpRequest.newBuilder(ApiFixtures.uri(server.port(), path)).timeout(TIMEOUT);
        if (!contentType.isEmpty()) {
            builder.header("Content-Type", contentType);
        }
        HttpRequest.BodyPublisher publisher = body.isEmpty() ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofString(body);
        return builder.method(method, publisher).build();
    }

    private ObjectNode valid(SplittableRandom random, boolean chat) {
        ObjectNode body = nodes.objectNode();
        body.put("model", MODEL);
        if (chat) {
            ArrayNode messages = body.putArray("messages");
            messages.addObject().put("role", "user").put("content", "Hello there");
        } else if (random.nextBoolean()) {
            ArrayNode prompt = body.putArray("prompt");
            for (int t = 0, n = 1 + random.nextInt(12); t < n; t++) {
                prompt.add(1 + random.nextInt(511));
            }
        } else {
            body.put("prompt", "Hello, my name is");
        }
        body.put("max_tokens", 1 + random.nextInt(8));
        if (random.nextBoolean()) {
            body.put("stream", true);
        }
        return body;
    }

    private ObjectNode mutatedFields(SplittableRandom random, boolean chat) {
        ObjectNode body = valid(random, chat);
        for (int m = 0, n = 1 + random.nextInt(3); m < n; m++) {
            String field = FIELDS.get(random.nextInt(FIELDS.size()));
            if (random.nextInt(8) == 0) {
                body.remove(field);
            } else {
                body.set(field, hostile(random, 0));
            }
        }
        return body;
    }

    /** A value of any JSON type, often at an edge: the kinds of values that broke parsers before. */
    private JsonNode hostile(SplittableRandom random, int depth) {
        switch (random.nextInt(depth > 1 ? 12 : 15)) {
            case 0: return nodes.nullNode();
            case 1: return nodes.booleanNode(random.nextBoolean());
            case 2: return nodes.numberNode(List.of(0, 1, 2, 7, -1, 511, 512, 4096, 4097, Integer.MAX_VALUE,
                    Integer.MIN_VALUE).get(random.nextInt(11)));
            case 3: return nodes.numberNode(List.of(Long.MAX_VALUE, Long.MIN_VALUE, 1L << 40).get(random.nextInt(3)));
            case 4: return nodes.numberNode(List.of(0.5, -0.0, 1e308, -1e308, 5e-324, 1e-7, 2.0000001, 0.999999)
                    .get(random.nextInt(8)));
            case 5: return nodes.numberNode(new java.math.BigInteger("123456789012345678901234567890"));
            case 6: return nodes.textNode("");
            case 7: return nodes.textNode(List.of("mixtral-tiny", "t1,", "\u0000", "\uFFFF\uD800", "<s>", "</s>",
                    "NaN", "Infinity", "-1", "true", "é漢字🙂").get(random.nextInt(11)));
            case 8: return nodes.textNode("x".repeat(1 + random.nextInt(50_000)));
            case 9: {
                ArrayNode ids = nodes.arrayNode();
                for (int t = 0, n = random.nextInt(20); t < n; t++) {
                    ids.add(random.nextInt(8) == 0 ? -1 - random.nextInt(3) : random.nextInt(70_000));
                }
                return ids;
            }
            case 10: return nodes.numberNode(random.nextInt(-3, 40));
            case 11: return nodes.numberNode(random.nextDouble(-3, 3));
            case 12: {
                ArrayNode array = nodes.arrayNode();
                for (int t = 0, n = random.nextInt(4); t < n; t++) {
                    array.add(hostile(random, depth + 1));
                }
                return array;
            }
            case 13: {
                ObjectNode object = nodes.objectNode();
                for (int t = 0, n = random.nextInt(4); t < n; t++) {
                    object.set(List.of("role", "content", "include_usage", "type", "5", "").get(random.nextInt(6)),
                            hostile(random, depth + 1));
                }
                return object;
            }
            default: { // messages as chat clients get them wrong
                ArrayNode messages = nodes.arrayNode();
                for (int t = 0, n = random.nextInt(3); t < n; t++) {
                    ObjectNode message = messages.addObject();
                    message.set("role", random.nextBoolean() ? nodes.textNode(List.of("user", "system", "assistant",
                            "tool", "robot").get(random.nextInt(5))) : hostile(random, depth + 1));
                    message.set("content", random.nextBoolean() ? nodes.textNode("hi") : hostile(random, depth + 1));
                }
                return messages;
            }
        }
    }

    private static String mutatedBytes(SplittableRandom random, String json) {
        StringBuilder s = new StringBuilder(json);
        for (int m = 0, n = 1 + random.nextInt(4); m < n && !s.isEmpty(); m++) {
            int at = random.nextInt(s.length());
            switch (random.nextInt(4)) {
                case 0 -> s.setLength(at);                                     // cut short
                case 1 -> s.deleteCharAt(at);
                case 2 -> s.insert(at, "{}[],:\"\\0-e".charAt(random.nextInt(11)));
                default -> s.setCharAt(at, (char) random.nextInt(32, 0x2FF));
            }
        }
        return s.toString();
    }

    private static String abbreviate(String body) {
        return body.length() <= 300 ? body : body.substring(0, 300) + "…";
    }
}
