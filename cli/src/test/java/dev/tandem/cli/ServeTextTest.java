package dev.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.core.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code tandem serve} with a real tokenizer: a one-layer synthetic Mixtral-shaped checkpoint with
 * a 32000-token vocabulary and the SentencePiece tokenizer beside it. Text prompts are encoded as
 * Hugging Face does (BOS first), the reply's text is the tokenizer's decoding of its token_ids,
 * and a stream's pieces add up to the whole reply.
 */
class ServeTextTest {
    private static final String PROMPT = "Hello, world! The quick brown fox";
    private static final Path TOKENIZER = Path.of("").toAbsolutePath().resolveSibling("core")
            .resolve("src/test/resources/tokenizers/spm-32k");
    /** Mixtral-8x7B-Instruct-v0.1's chat_template, as its tokenizer_config.json has it. */
    private static final String MIXTRAL_INSTRUCT_TEMPLATE = "{{ bos_token }}{% for message in messages %}"
            + "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must"
            + " alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}"
            + "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
            + "{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are"
            + " supported!') }}{% endif %}{% endfor %}";
    private final ObjectMapper json = new ObjectMapper();

    @TempDir
    Path temp;

    @Test
    void shouldEncodePromptsAndDecodeCompletionsWithTheCheckpointsTokenizer() throws Exception {
        Path model = checkpointWithTokenizer("mixtral-small-1l", json.readTree(
                TOKENIZER.resolve("tokenizer_config.json").toFile()));
        Tokenizer tokenizer = Tokenizer.load(model);
        try (ApiServer server = ApiServer.start(temp.resolve("port"), 120_000, "serve", "--model", model.toString(),
                "--threads", "1", "--served-model-name", "small");
             HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()) {
            int port = server.port();
            String body = "{\"model\":\"small\",\"prompt\":" + json.writeValueAsString(PROMPT)
                    + ",\"max_tokens\":24,\"temperature\":0,\"ignore_eos\":true";
            JsonNode whole = json.readTree(post(client, port, "/v1/completions", body + "}"));
            JsonNode ids = whole.at("/choices/0/token_ids");
            int[] generated = new int[ids.size()];
            for (int i = 0; i < generated.length; i++) {
                generated[i] = ids.get(i).asInt();
            }
            assertEquals(tokenizer.encode(PROMPT, true).length, whole.at("/usage/prompt_tokens").asInt(),
                    "the prompt as the tokenizer encodes it, with BOS");
            assertEquals(1, tokenizer.encode(PROMPT, true)[0], "BOS first");
            assertEquals(24, generated.length);
            int[] promptIds = tokenizer.encode(PROMPT, true);
            int[] both = java.util.stream.IntStream.concat(java.util.Arrays.stream(promptIds),
                    java.util.Arrays.stream(generated)).toArray();
            String promptText = tokenizer.decode(promptIds, true);
            String all = tokenizer.decode(both, true);
            assertTrue(all.startsWith(promptText));
            assertEquals(all.substring(promptText.length()), whole.at("/choices/0/text").asText(),
                    "prompt + completion read as one text: the ids decoded after the prompt (leading space kept)");

            StringBuilder streamed = new StringBuilder();
            List<Integer> streamedIds = new ArrayList<>();
            for (String line : post(client, port, "/v1/completions", body + ",\"stream\":true}").split("\n")) {
                if (line.startsWith("data: {")) {
                    JsonNode chunk = json.readTree(line.substring(6));
                    streamed.append(chunk.at("/choices/0/text").asText());
                    chunk.at("/choices/0/token_ids").forEach(id -> streamedIds.add(id.asInt()));
                }
            }
            assertEquals(whole.at("/choices/0/text").asText(), streamed.toString(), "stream pieces add up");
            assertEquals(ids.size(), streamedIds.size());

            checkTokenizerEndpoints(client, port, tokenizer);

            String chat = post(client, port, "/v1/chat/completions",
                    "{\"model\":\"small\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
            assertTrue(chat.contains("chat_template"), "no template in this tokenizer_config.json: " + chat);
        }
    }

    @Test
    void shouldRenderMixtralInstructsChatTemplateAndEncodeItWithoutAnotherBos() throws Exception {
        ObjectNode config = (ObjectNode) json.readTree(TOKENIZER.resolve("tokenizer_config.json").toFile());
        config.put("chat_template", MIXTRAL_INSTRUCT_TEMPLATE);
        Path model = checkpointWithTokenizer("mixtral-small-instruct", config);
        Tokenizer tokenizer = Tokenizer.load(model);
        try (ApiServer server = ApiServer.start(temp.resolve("port-chat"), 120_000, "serve", "--model",
                model.toString(), "--threads", "1");
             HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()) {
            int port = server.port();
            JsonNode reply = json.readTree(post(client, port, "/v1/chat/completions", "{\"messages\":["
                    + "{\"role\":\"user\",\"content\":\"Hello!\"},{\"role\":\"assistant\",\"content\":\"Hi.\"},"
                    + "{\"role\":\"user\",\"content\":\"How are you?\"}],\"max_tokens\":4,\"temperature\":0}"));
            // the template by hand: bos, then [INST] … [/INST] per user turn, assistant turns closed by eos
            int[] expected = tokenizer.encode("<s>[INST] Hello! [/INST]Hi.</s>[INST] How are you? [/INST]", false);
            assertEquals(expected.length, reply.at("/usage/prompt_tokens").asInt(), reply.toString());
            assertEquals("assistant", reply.at("/choices/0/message/role").asText());
            assertEquals(4, reply.at("/choices/0/token_ids").size());
        }
    }

    /**
     * {@code --chat-template FILE} (Qwen-2.5-Instruct's, one of the templates core's Jinja tests hold
     * to Python's Jinja2) replaces the checkpoint's, and an assistant turn with {@code content: null}
     * and {@code tool_calls} renders as Jinja2 rendered it; null content without tool calls is a 400.
     */
    @Test
    void shouldRenderTheChatTemplateFileWithAssistantToolCalls() throws Exception {
        Path templates = Path.of("").toAbsolutePath().resolveSibling("core").resolve("src/test/resources/chat-templates");
        ObjectNode config = (ObjectNode) json.readTree(TOKENIZER.resolve("tokenizer_config.json").toFile());
        config.put("chat_template", MIXTRAL_INSTRUCT_TEMPLATE);
        Path model = checkpointWithTokenizer("mixtral-small-tools", config);
        Tokenizer tokenizer = Tokenizer.load(model);
        String expected = null;
        for (JsonNode r : json.readTree(templates.resolve("renderings.json").toFile())) {
            if (r.get("template").asText().equals("qwen-2.5-instruct.jinja")
                    && r.get("conversation").asText().startsWith("an assistant tool call")) {
                expected = r.get("rendered").asText();
            }
        }
        String messages = "[{\"role\":\"user\",\"content\":\"Weather in Paris?\"},{\"role\":\"assistant\","
                + "\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":"
                + "{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\",\"unit\":\"°C\"}}}]},"
                + "{\"role\":\"tool\",\"content\":\"{\\\"temperature\\\": 21}\"}]";
        try (ApiServer server = ApiServer.start(temp.resolve("port-tools"), 120_000, "serve", "--model",
                model.toString(), "--threads", "1", "--chat-template",
                templates.resolve("qwen-2.5-instruct.jinja").toString());
             HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()) {
            int port = server.port();
            JsonNode tokens = json.readTree(post(client, port, "/tokenize", "{\"messages\":" + messages + "}"));
            assertEquals(java.util.Arrays.toString(tokenizer.encode(expected, false)),
                    tokens.get("tokens").toString().replace(",", ", "), tokens.toString());
            JsonNode refused = json.readTree(post(client, port, "/tokenize",
                    "{\"messages\":[{\"role\":\"assistant\",\"content\":null}]}"));
            assertEquals("messages[0].content", refused.at("/error/param").asText(), refused.toString());
        }
    }

    /** A one-layer synthetic Mixtral-shaped checkpoint with the SentencePiece tokenizer and {@code config}. */
    private Path checkpointWithTokenizer(String name, JsonNode config) throws Exception {
        Path model = temp.resolve(name);
        assertEquals(0, CliFixtures.tandem("synth", "--preset", "mixtral-small", "--layers", "1", "--out",
                model.toString()).exitCode());
        Files.copy(TOKENIZER.resolve("tokenizer.json"), model.resolve("tokenizer.json"));
        json.writeValue(model.resolve("tokenizer_config.json").toFile(), config);
        return model;
    }

    /** vLLM's /tokenize, /detokenize, /version, /ping and /v1/models/{id}, against the tokenizer itself. */
    private void checkTokenizerEndpoints(HttpClient client, int port, Tokenizer tokenizer) throws Exception {
        JsonNode tokens = json.readTree(post(client, port, "/tokenize", "{\"model\":\"small\",\"prompt\":"
                + json.writeValueAsString(PROMPT) + "}"));
        int[] expected = tokenizer.encode(PROMPT, true);
        assertEquals(expected.length, tokens.get("count").asInt());
        assertEquals(java.util.Arrays.toString(expected), tokens.get("tokens").toString().replace(",", ", "));
        assertTrue(tokens.get("max_model_len").asInt() > 0);
        JsonNode plain = json.readTree(post(client, port, "/tokenize", "{\"prompt\":" + json.writeValueAsString(PROMPT)
                + ",\"add_special_tokens\":false}"));
        assertEquals(java.util.Arrays.toString(tokenizer.encode(PROMPT, false)),
                plain.get("tokens").toString().replace(",", ", "), "no BOS when not asked for");
        JsonNode text = json.readTree(post(client, port, "/detokenize", "{\"tokens\":" + tokens.get("tokens") + "}"));
        assertEquals(tokenizer.decode(expected, true), text.get("prompt").asText());
        assertEquals(PROMPT, text.get("prompt").asText(), "the prompt round-trips");
        assertTrue(post(client, port, "/detokenize", "{\"tokens\":[-1]}").contains("\"param\":\"tokens\""));

        assertTrue(json.readTree(get(client, port, "/version").body()).get("version").isTextual());
        assertEquals(200, get(client, port, "/ping").statusCode());
        assertEquals(200, client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/ping"))
                .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString()).statusCode());
        HttpResponse<String> one = get(client, port, "/v1/models/small");
        assertEquals(200, one.statusCode());
        assertEquals("small", json.readTree(one.body()).get("id").asText());
        assertEquals(404, get(client, port, "/v1/models/other").statusCode());
    }

    private static HttpResponse<String> get(HttpClient client, int port, String path) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(30)).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String post(HttpClient client, int port, String path, String body) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(120)).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build();
        return client.send(request, HttpResponse.BodyHandlers.ofString()).body();
    }
}
