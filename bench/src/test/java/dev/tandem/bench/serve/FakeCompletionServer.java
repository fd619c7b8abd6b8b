package dev.tandem.bench.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.IntUnaryOperator;

/**
 * A stand-in for the OpenAI-compatible server: {@code /v1/models} and streamed {@code /v1/completions} whose first
 * token comes {@code firstTokenMs} after the request and each later chunk {@code tokensPerChunk · tbtMs} after
 * the previous one, whatever the load. {@code statusForPrompt} maps a prompt length to the HTTP status.
 */
final class FakeCompletionServer implements AutoCloseable {
    static final String MODEL = "fake-model";

    static {
        // without TCP_NODELAY, Nagle's algorithm and the client's delayed ACK hold small SSE chunks back ~40 ms;
        // read once, when the JDK's server configuration loads
        System.setProperty("sun.net.httpserver.nodelay", "true");
    }

    private final HttpServer server;
    private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
    private final ObjectMapper json = new ObjectMapper();
    private final long firstTokenMs;
    private final long tbtMs;
    private final int tokensPerChunk;
    private final IntUnaryOperator statusForPrompt;
    private final boolean strict;
    /** System.nanoTime() at each completion request's arrival. */
    final List<Long> arrivals = new CopyOnWriteArrayList<>();
    /** the Authorization header of each request, null where there was none */
    final List<String> authorizations = new CopyOnWriteArrayList<>();
    /** prompts as received (for chat, as many zeros as the message has words) */
    final List<int[]> prompts = new CopyOnWriteArrayList<>();
    /** chat requests' user messages */
    final List<String> messages = new CopyOnWriteArrayList<>();

    FakeCompletionServer(long firstTokenMs, long tbtMs, int tokensPerChunk, IntUnaryOperator statusForPrompt)
            throws IOException {
        this(firstTokenMs, tbtMs, tokensPerChunk, statusForPrompt, false);
    }

    /**
     * {@code strict}: as a strict OpenAI server, refuse fields it does not know (vLLM's {@code ignore_eos}) with 400,
     * send no {@code token_ids}, and count tokens only in the usage chunk that {@code stream_options} asks for.
     */
    FakeCompletionServer(long firstTokenMs, long tbtMs, int tokensPerChunk, IntUnaryOperator statusForPrompt,
                         boolean strict) throws IOException {
        this.strict = strict;
        this.firstTokenMs = firstTokenMs;
        this.tbtMs = tbtMs;
        this.tokensPerChunk = tokensPerChunk;
        this.statusForPrompt = statusForPrompt;
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.setExecutor(threads);
        server.createContext("/v1/models", this::models);
        server.createContext("/v1/completions", this::completions);
        server.createContext("/v1/chat/completions", this::completions);
        server.start();
    }

    URI url() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/");
    }

    private void models(HttpExchange exchange) throws IOException {
        authorizations.add(exchange.getRequestHeaders().getFirst("Authorization"));
        byte[] body = ("{\"object\":\"list\",\"data\":[{\"id\":\"" + MODEL + "\",\"object\":\"model\",\"created\":1,"
                + "\"owned_by\":\"tandem\",\"max_model_len\":64,\"vocab_size\":1000}]}").getBytes(StandardCharsets.UTF_8);
        exchange.sendResponseHeaders(200, body.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
        }
    }

    private void completions(HttpExchange exchange) throws IOException {
        arrivals.add(System.nanoTime());
        authorizations.add(exchange.getRequestHeaders().getFirst("Authorization"));
        JsonNode request = json.readTree(exchange.getRequestBody());
        boolean chat = exchange.getRequestURI().getPath().endsWith("/chat/completions");
        if (chat) {
            messages.add(request.at("/messages/0/content").asText());
        }
        int[] prompt = chat ? new int[request.at("/messages/0/content").asText().split(" ").length]
                : json.convertValue(request.get("prompt"), int[].class);
        prompts.add(prompt);
        int status = strict && request.has("ignore_eos") ? 400 : statusForPrompt.applyAsInt(prompt.length);
        if (status != 200) {
            byte[] body = ("{\"error\":{\"message\":\"fake " + status + "\",\"type\":\"x\",\"param\":null,\"code\":"
                    + status + "}}").getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Retry-After", "1");
            exchange.sendResponseHeaders(status, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
            return;
        }
        exchange.getResponseHeaders().add("Content-Type", "text/event-stream");
        exchange.sendResponseHeaders(200, 0);
        int maxTokens = request.get("max_tokens").asInt();
        try (OutputStream out = exchange.getResponseBody()) {
            sleep(firstTokenMs);
            int sent = 0;
            while (sent < maxTokens) {
                int count = sent == 0 ? 1 : Math.min(tokensPerChunk, maxTokens - sent);
                if (sent > 0) {
                    sleep(tbtMs * count);
                }
                sent += count;
                event(out, chat ? chatChunk(count, sent == maxTokens) : chunk(count, sent == maxTokens, strict));
            }
            if (strict && request.path("stream_options").path("include_usage").asBoolean()) {
                event(out, "{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"" + MODEL
                        + "\",\"choices\":[],\"usage\":{\"prompt_tokens\":" + prompt.length + ",\"completion_tokens\":"
                        + maxTokens + ",\"total_tokens\":" + (prompt.length + maxTokens) + "}}");
            }
            event(out, "[DONE]");
        }
    }

    /** As OpenAI sends a chat stream: a delta of content, no token ids. */
    private static String chatChunk(int tokens, boolean last) {
        return "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"" + MODEL
                + "\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + "x".repeat(tokens) + "\"},\"logprobs\":null,"
                + "\"finish_reason\":" + (last ? "\"length\"" : "null") + "}]}";
    }

    private static String chunk(int tokens, boolean last, boolean strict) {
        StringBuilder ids = new StringBuilder();
        for (int i = 0; i < tokens; i++) {
            ids.append(i == 0 ? "" : ",").append(7);
        }
        return "{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"" + MODEL + "\",\"choices\":"
                + "[{\"index\":0,\"text\":\"" + "x".repeat(tokens) + "\"" + (strict ? "" : ",\"token_ids\":[" + ids + "]")
                + ",\"logprobs\":null,\"finish_reason\":"
                + (last ? "\"length\"" : "null") + "}]}";
    }

    private static void event(OutputStream out, String data) throws IOException {
        out.write(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() throws InterruptedException {
        server.stop(0);
        threads.shutdownNow();
        threads.awaitTermination(5, TimeUnit.SECONDS);
    }
}
