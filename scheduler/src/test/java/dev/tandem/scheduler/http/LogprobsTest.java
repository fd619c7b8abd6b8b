package dev.tandem.scheduler.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.checkpoint.SafetensorsFile;
import dev.tandem.scheduler.engine.ColocatedEngine;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpClient;
import java.util.List;

import static dev.tandem.scheduler.http.ApiFixtures.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * logprobs over HTTP against transformers' logits in the fixture: {@code echo} with
 * {@code logprobs} gives each prompt token's log-probability (the log-softmax of the logits one
 * position before it) and each generated token's, with the most likely alternatives, whole and
 * streamed; chat gets {@code logprobs.content}. What lm-eval-harness's loglikelihood tasks read.
 * And {@code n} choices of one request, each its own sample, and several prompts in one request.
 */
class LogprobsTest {
    private static final String MODEL = "mixtral-tiny";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static ColocatedEngine engine;
    private static HttpApiServer server;
    private static HttpClient client;
    private static dev.tandem.scheduler.metrics.ApiMetrics metrics;

    @BeforeAll
    static void start() {
        engine = new ColocatedEngine(ApiFixtures.fixture(MODEL), MODEL, ApiFixtures.THREADS, 256, 1024, 256);
        metrics = new dev.tandem.scheduler.metrics.ApiMetrics(MODEL);
        server = HttpApiServer.start(new HttpApiContext(engine, new WordCodec(), metrics, 1 << 20, 1, null), "127.0.0.1", 0);
        client = ApiFixtures.client();
    }

    @AfterAll
    static void stop() {
        client.close();
        server.close();
        engine.close();
    }

    @Test
    void shouldGivePromptAndCompletionLogprobsAsTheModelsLogitsDo() throws Exception {
        ApiFixtures.Prompt p = ApiFixtures.prompts(MODEL).getFirst();
        float[] logits;
        try (SafetensorsFile expected = SafetensorsFile.open(ApiFixtures.fixture(MODEL).resolve("expected.safetensors"))) {
            logits = expected.tensor("p0.logits").toFloatArray();
        }
        int vocab = logits.length / p.inputIds().length;
        for (boolean stream : new boolean[] {false, true}) {
            String body = "{\"model\":\"" + MODEL + "\",\"prompt\":[" + ApiFixtures.csv(p.inputIds()) + "],\"max_tokens\":3,"
                    + "\"temperature\":0,\"ignore_eos\":true,\"logprobs\":2,\"echo\":true,\"stream\":" + stream + "}";
            ApiFixtures.Reply reply = post(client, server.port(), "/v1/completions", body);
            assertEquals(200, reply.status(), reply.body());
            JsonNode lp = stream ? joinedStream(reply.body()) : reply.json().at("/choices/0/logprobs");
            int prompt = p.inputIds().length;
            assertEquals(prompt + 3, lp.get("tokens").size(), lp.toString());
            assertTrue(lp.get("token_logprobs").get(0).isNull(), "nothing predicts the first prompt token");
            assertTrue(lp.get("top_logprobs").get(0).isNull());
            for (int j = 1; j < prompt; j++) {       // transformers' logits at j - 1 predict prompt token j
                double expected = logSoftmax(logits, (j - 1) * vocab, vocab, p.inputIds()[j]);
                assertEquals(expected, lp.get("token_logprobs").get(j).asDouble(), 1e-3, "prompt token " + j);
                assertEquals(2, lp.get("top_logprobs").get(j).size(), "two alternatives at " + j);
            }
            double first = logSoftmax(logits, (prompt - 1) * vocab, vocab, p.greedy()[0]);
            assertEquals(first, lp.get("token_logprobs").get(prompt).asDouble(), 1e-3, "the first generated token");
            for (int j = prompt; j < prompt + 3; j++) {  // greedy: the chosen token is the most likely one
                double best = lp.get("top_logprobs").get(j).elements().next().asDouble();
                assertEquals(best, lp.get("token_logprobs").get(j).asDouble(), 1e-6, "greedy token " + j);
            }
        }
    }

    @Test
    void shouldListChatLogprobsAndRefuseTooManyAlternatives() throws Exception {
        ApiFixtures.Reply reply = post(client, server.port(), "/v1/chat/completions", "{\"model\":\"" + MODEL
                + "\",\"messages\":[{\"role\":\"user\",\"content\":\"t5,t9,\"}],\"max_tokens\":2,\"temperature\":0,"
                + "\"ignore_eos\":true,\"logprobs\":true,\"top_logprobs\":3}");
        assertEquals(200, reply.status(), reply.body());
        JsonNode content = reply.json().at("/choices/0/logprobs/content");
        assertEquals(2, content.size(), reply.body());
        for (JsonNode token : content) {
            assertEquals(3, token.get("top_logprobs").size());
            assertEquals(token.get("top_logprobs").get(0).get("logprob").asDouble(), token.get("logprob").asDouble(), 1e-6);
            assertTrue(token.get("logprob").asDouble() <= 0);
            assertEquals(token.get("token").asText().getBytes(java.nio.charset.StandardCharsets.UTF_8).length,
                    token.get("bytes").size());
        }
        assertEquals(400, post(client, server.port(), "/v1/completions", "{\"prompt\":[1,2],\"logprobs\":21}").status());
        assertEquals(400, post(client, server.port(), "/v1/chat/completions",
                "{\"messages\":[{\"role\":\"user\",\"content\":\"t1,\"}],\"top_logprobs\":2}").status());
    }

    /**
     * {@code n} choices: each its own sample (seed, seed + 1, …) with its index, whole and streamed,
     * usage counting them all; seeded, the whole and the streamed answers agree choice by choice.
     */
    @Test
    void shouldAnswerNChoicesEachItsOwnSample() throws Exception {
        ApiFixtures.Prompt p = ApiFixtures.prompts(MODEL).getFirst();
        String request = "{\"model\":\"" + MODEL + "\",\"prompt\":[" + ApiFixtures.csv(p.inputIds()) + "],\"max_tokens\":5,"
                + "\"temperature\":1,\"seed\":11,\"ignore_eos\":true,\"n\":3";
        long promptTokensBefore = metrics.promptTokens();
        ApiFixtures.Reply whole = post(client, server.port(), "/v1/completions", request + "}");
        assertEquals(200, whole.status(), whole.body());
        assertEquals(promptTokensBefore + p.inputIds().length, metrics.promptTokens(), "the prompt counted once");
        JsonNode choices = whole.json().get("choices");
        assertEquals(3, choices.size());
        java.util.List<String> ids = new java.util.ArrayList<>();
        for (int i = 0; i < 3; i++) {
            assertEquals(i, choices.get(i).get("index").asInt());
            assertEquals(5, choices.get(i).get("token_ids").size());
            ids.add(choices.get(i).get("token_ids").toString());
        }
        assertEquals(15, whole.json().at("/usage/completion_tokens").asInt());
        assertTrue(new java.util.HashSet<>(ids).size() > 1, "three samples, not one three times: " + ids);
        ApiFixtures.Reply streamed = post(client, server.port(), "/v1/completions",
                request + ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
        java.util.Map<Integer, com.fasterxml.jackson.databind.node.ArrayNode> byChoice = new java.util.TreeMap<>();
        int usage = -1;
        for (String line : streamed.body().split("\n")) {
            if (!line.startsWith("data: {")) {
                continue;
            }
            JsonNode chunk = JSON.readTree(line.substring(6));
            if (chunk.get("choices").isEmpty()) {
                usage = chunk.at("/usage/completion_tokens").asInt();
                continue;
            }
            JsonNode c = chunk.get("choices").get(0);
            byChoice.computeIfAbsent(c.get("index").asInt(), k -> JSON.createArrayNode()).addAll(
                    (com.fasterxml.jackson.databind.node.ArrayNode) c.get("token_ids"));
        }
        assertEquals(15, usage, "one usage chunk for all choices");
        assertEquals(3, byChoice.size());
        for (int i = 0; i < 3; i++) {
            assertEquals(ids.get(i), byChoice.get(i).toString(), "choice " + i + ", streamed and whole");
        }
        assertEquals(1, streamed.body().split("data: \\[DONE\\]", -1).length - 1, "one [DONE]");
    }

    /**
     * {@code best_of}: the same seeded candidates as {@code n = best_of} gives (seed, seed + 1, …), of
     * which the n with the highest sum of their tokens' log-probabilities answer, best first;
     * reranked here by hand from the n = best_of answer's own logprobs.
     */
    @Test
    void shouldAnswerTheBestOfItsCandidatesByCumulativeLogprob() throws Exception {
        ApiFixtures.Prompt p = ApiFixtures.prompts(MODEL).getFirst();
        String request = "{\"model\":\"" + MODEL + "\",\"prompt\":[" + ApiFixtures.csv(p.inputIds())
                + "],\"max_tokens\":6,\"temperature\":1,\"seed\":5,\"ignore_eos\":true";
        ApiFixtures.Reply all = post(client, server.port(), "/v1/completions", request + ",\"n\":4,\"logprobs\":0}");
        assertEquals(200, all.status(), all.body());
        List<double[]> ranked = new java.util.ArrayList<>(); // {sum, candidate}
        for (int i = 0; i < 4; i++) {
            double sum = 0;
            for (JsonNode l : all.json().get("choices").get(i).at("/logprobs/token_logprobs")) {
                sum += l.asDouble();
            }
            ranked.add(new double[] {sum, i});
        }
        ranked.sort((a, b) -> Double.compare(b[0], a[0]));
        assertTrue((int) ranked.get(0)[1] != 0 || (int) ranked.get(1)[1] != 1,
                "this seed's best two are not simply the first two candidates: " + ranked.stream().map(r -> r[1]).toList());
        for (boolean withLogprobs : new boolean[] {false, true}) {
            ApiFixtures.Reply best = post(client, server.port(), "/v1/completions", request
                    + ",\"n\":2,\"best_of\":4" + (withLogprobs ? ",\"logprobs\":0" : "") + "}");
            assertEquals(200, best.status(), best.body());
            JsonNode choices = best.json().get("choices");
            assertEquals(2, choices.size());
            for (int j = 0; j < 2; j++) {
                JsonNode expected = all.json().get("choices").get((int) ranked.get(j)[1]);
                assertEquals(j, choices.get(j).get("index").asInt());
                assertEquals(expected.get("token_ids").toString(), choices.get(j).get("token_ids").toString(),
                        "answer " + j + " is candidate " + (int) ranked.get(j)[1] + " of sums " + ranked.stream()
                                .map(r -> r[0]).toList());
                assertEquals(withLogprobs, !choices.get(j).get("logprobs").isNull(), "logprobs only when asked");
            }
            assertEquals(12, best.json().at("/usage/completion_tokens").asInt(), "the answered choices' tokens");
        }
    }

    /** Several prompts in one request, n each: choice p · n + i is prompt p's, greedy as transformers' fixture. */
    @Test
    void shouldAnswerEveryPromptOfAListInOrder() {
        List<ApiFixtures.Prompt> prompts = ApiFixtures.prompts(MODEL);
        ApiFixtures.Prompt a = prompts.get(0);
        ApiFixtures.Prompt b = prompts.get(1);
        ApiFixtures.Reply reply = post(client, server.port(), "/v1/completions", "{\"model\":\"" + MODEL + "\",\"prompt\":[["
                + ApiFixtures.csv(a.inputIds()) + "],[" + ApiFixtures.csv(b.inputIds()) + "]],\"max_tokens\":"
                + ApiFixtures.GREEDY_TOKENS + ",\"temperature\":0,\"ignore_eos\":true,\"n\":2}");
        assertEquals(200, reply.status(), reply.body());
        JsonNode choices = reply.json().get("choices");
        assertEquals(4, choices.size());
        for (int i = 0; i < 4; i++) {
            int[] greedy = (i < 2 ? a : b).greedy();
            assertEquals(i, choices.get(i).get("index").asInt());
            assertEquals(java.util.Arrays.toString(greedy), choices.get(i).get("token_ids").toString().replace(",", ", "),
                    "choice " + i);
        }
        assertEquals(a.inputIds().length + b.inputIds().length, reply.json().at("/usage/prompt_tokens").asInt(),
                "each prompt counted once");
        assertEquals(4 * ApiFixtures.GREEDY_TOKENS, reply.json().at("/usage/completion_tokens").asInt());
    }

    /** The completion's logprobs arrays, chunk by chunk, joined in order. */
    private static JsonNode joinedStream(String events) throws Exception {
        var joined = JSON.createObjectNode();
        for (String field : List.of("tokens", "token_logprobs", "top_logprobs", "text_offset")) {
            joined.putArray(field);
        }
        for (String line : events.split("\n")) {
            if (!line.startsWith("data: {")) {
                continue;
            }
            JsonNode lp = JSON.readTree(line.substring(6)).at("/choices/0/logprobs");
            if (lp.isMissingNode() || lp.isNull()) {
                continue;
            }
            for (String field : List.of("tokens", "token_logprobs", "top_logprobs", "text_offset")) {
                ((com.fasterxml.jackson.databind.node.ArrayNode) joined.get(field)).addAll(
                        (com.fasterxml.jackson.databind.node.ArrayNode) lp.get(field));
            }
        }
        return joined;
    }

    private static double logSoftmax(float[] logits, int offset, int vocab, int token) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            max = Math.max(max, logits[offset + i]);
        }
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            sum += Math.exp(logits[offset + i] - max);
        }
        return logits[offset + token] - max - Math.log(sum);
    }
}
