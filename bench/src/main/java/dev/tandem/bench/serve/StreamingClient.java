package dev.tandem.bench.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Sends one streamed {@code POST /v1/completions} (token-id prompt, greedy, {@code ignore_eos} where asked,
 * {@code stream_options.include_usage}), or {@code /v1/chat/completions} with a user message of random words
 * (servers that take text only), and times the server-sent events as they arrive. Tokens are counted by each
 * chunk's {@code token_ids} (vLLM's), else from the usage chunk, spread over the chunks that carried text.
 * Blocks the calling thread: run it on a virtual thread per request.
 */
public final class StreamingClient {
    private static final int ERROR_BODY_CHARS = 2000;

    private final HttpClient client;
    private final URI completionsUri;
    private final String model;
    private final PromptFactory prompts;
    private final String apiKey;
    private final boolean ignoreEos;
    private final boolean chat;
    private final ObjectMapper json = new ObjectMapper();

    /**
     * {@code apiKey}: sent as {@code Authorization: Bearer} on every request; null: none.
     * {@code ignoreEos}: ask for vLLM's {@code ignore_eos} (a strict OpenAI server refuses the field).
     */
    public StreamingClient(HttpClient client, URI baseUrl, String model, PromptFactory prompts, String apiKey,
                           boolean ignoreEos) {
        this(client, baseUrl, model, prompts, apiKey, ignoreEos, false);
    }

    /** {@code chat}: {@code /v1/chat/completions} with a text message, instead of token ids to {@code /v1/completions}. */
    public StreamingClient(HttpClient client, URI baseUrl, String model, PromptFactory prompts, String apiKey,
                           boolean ignoreEos, boolean chat) {
        this.ignoreEos = ignoreEos;
        this.chat = chat;
        this.client = client;
        this.completionsUri = baseUrl.resolve(chat ? "v1/chat/completions" : "v1/completions");
        this.model = model;
        this.prompts = prompts;
        this.apiKey = apiKey;
    }

    /** @param epochNanos the replay's start on {@link System#nanoTime()}; send times are measured from it */
    public RequestOutcome send(PlannedRequest request, long epochNanos) {
        HttpRequest.Builder builder = HttpRequest.newBuilder(completionsUri)
                .header("Content-Type", "application/json")
                .header("Accept", "text/event-stream")
                .POST(HttpRequest.BodyPublishers.ofString(body(request)));
        if (apiKey != null) {
            builder.header("Authorization", "Bearer " + apiKey);
        }
        HttpRequest http = builder.build();
        long sent = System.nanoTime();
        double sentAtMs = (sent - epochNanos) / 1e6;
        try {
            HttpResponse<InputStream> response = client.send(http, HttpResponse.BodyHandlers.ofInputStream());
            try (InputStream in = response.body()) {
                if (response.statusCode() != 200) {
                    return RequestOutcome.failed(request, sentAtMs, response.statusCode(),
                            errorKind(response.statusCode()), errorMessage(in));
                }
                return readStream(request, sent, sentAtMs, in);
            }
        } catch (HttpTimeoutException e) {
            return RequestOutcome.failed(request, sentAtMs, 0, RequestOutcome.ERROR_TIMEOUT, e.toString());
        } catch (IOException e) {
            return RequestOutcome.failed(request, sentAtMs, 0, RequestOutcome.ERROR_TRANSPORT, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return RequestOutcome.failed(request, sentAtMs, 0, RequestOutcome.ERROR_TIMEOUT, "abandoned at the deadline");
        }
    }

    private RequestOutcome readStream(PlannedRequest request, long sent, double sentAtMs, InputStream in) throws IOException {
        BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        long[] times = new long[Math.max(16, request.outputTokens())]; // arrival of each chunk that carried text
        int[] carried = new int[times.length];
        int chunks = 0;
        boolean idsSeen = false;
        int usageTokens = -1;
        for (String line = reader.readLine(); line != null; line = reader.readLine()) {
            long now = System.nanoTime();
            if (!line.startsWith("data:")) {
                continue; // blank separators, comments, event: lines
            }
            String payload = line.substring(5).trim();
            if (payload.equals("[DONE]")) {
                if (!idsSeen && usageTokens >= 0) {   // a server without token_ids: usage says how many came
                    spread(carried, chunks, usageTokens);
                }
                return outcome(request, sent, sentAtMs, now, times, carried, chunks);
            }
            JsonNode chunk;
            try {
                chunk = json.readTree(payload);
            } catch (JsonProcessingException e) {
                return RequestOutcome.failed(request, sentAtMs, 200, RequestOutcome.ERROR_STREAM, "not JSON: " + payload);
            }
            if (chunk.has("error")) {
                return RequestOutcome.failed(request, sentAtMs, 200, RequestOutcome.ERROR_STREAM,
                        chunk.get("error").path("message").asText(chunk.get("error").toString()));
            }
            if (chunk.path("usage").path("completion_tokens").isIntegralNumber()) {
                usageTokens = chunk.get("usage").get("completion_tokens").asInt();
            }
            JsonNode choice = chunk.path("choices").path(0);
            idsSeen |= choice.path("token_ids").isArray();
            int tokens = tokensIn(choice);
            if (tokens == 0) {
                continue;
            }
            if (chunks == times.length) {
                times = Arrays.copyOf(times, 2 * chunks);
                carried = Arrays.copyOf(carried, 2 * chunks);
            }
            times[chunks] = now;
            carried[chunks++] = tokens;
        }
        return RequestOutcome.failed(request, sentAtMs, 200, RequestOutcome.ERROR_STREAM,
                "the stream ended without data: [DONE] after " + chunks + " chunks");
    }

    /**
     * {@code total} tokens over {@code chunks} chunks: the first chunk one (the prefill's token, which servers
     * send as soon as it is sampled), the rest as evenly as whole tokens go.
     */
    private static void spread(int[] carried, int chunks, int total) {
        if (chunks == 1) {
            carried[0] = total;
            return;
        }
        carried[0] = Math.min(1, total);
        int rest = total - carried[0];
        for (int c = 1; c < chunks; c++) {
            carried[c] = rest / (chunks - 1) + (c - 1 < rest % (chunks - 1) ? 1 : 0);
        }
    }

    /**
     * TTFT from the first chunk; a later chunk's gap since the one before spread over its tokens (the
     * first chunk's further tokens came with it: no gap to spread).
     */
    private static RequestOutcome outcome(PlannedRequest request, long sent, double sentAtMs, long end, long[] times,
                                          int[] carried, int chunks) {
        int tokens = 0;
        for (int c = 0; c < chunks; c++) {
            tokens += carried[c];
        }
        double[] gaps = new double[Math.max(0, tokens - (chunks > 0 ? carried[0] : 0))];
        int gapCount = 0;
        for (int c = 1; c < chunks; c++) {
            double gap = (times[c] - times[c - 1]) / 1e6 / Math.max(1, carried[c]);
            Arrays.fill(gaps, gapCount, gapCount + carried[c], gap);
            gapCount += carried[c];
        }
        double ttftMs = chunks == 0 ? Double.NaN : (times[0] - sent) / 1e6;
        return new RequestOutcome(request, sentAtMs, 200, null, null, ttftMs, Arrays.copyOf(gaps, gapCount),
                (end - sent) / 1e6, tokens);
    }

    /**
     * Tokens by {@code token_ids}; a server without that field counts one per non-empty text (a chat chunk's
     * {@code delta.content}; usage corrects it).
     */
    private static int tokensIn(JsonNode choice) {
        JsonNode ids = choice.path("token_ids");
        if (ids.isArray()) {
            return ids.size();
        }
        String text = choice.has("delta") ? choice.path("delta").path("content").asText("") : choice.path("text").asText("");
        return text.isEmpty() ? 0 : 1;
    }

    private static String errorKind(int status) {
        return switch (status) {
            case 429 -> RequestOutcome.ERROR_429;
            case 503 -> RequestOutcome.ERROR_503;
            default -> "http_" + status;
        };
    }

    private String errorMessage(InputStream in) throws IOException {
        String body = new String(in.readNBytes(ERROR_BODY_CHARS), StandardCharsets.UTF_8);
        try {
            JsonNode message = json.readTree(body).path("error").path("message");
            return message.isTextual() ? message.asText() : body;
        } catch (IOException notJson) {
            return body;
        }
    }

    private String body(PlannedRequest request) {
        StringBuilder sb = new StringBuilder(request.promptTokens() * 6 + 160);
        sb.append("{\"model\":").append(quote(model));
        if (chat) {
            sb.append(",\"messages\":[{\"role\":\"user\",\"content\":")
                    .append(quote(prompts.text(request.index(), request.promptTokens()))).append("}]");
        } else {
            int[] prompt = prompts.prompt(request.index(), request.promptTokens());
            sb.append(",\"prompt\":[");
            for (int i = 0; i < prompt.length; i++) {
                sb.append(i == 0 ? "" : ",").append(prompt[i]);
            }
            sb.append("]");
        }
        return sb.append(",\"max_tokens\":").append(request.outputTokens())
                .append(",\"temperature\":0,\"stream\":true,\"stream_options\":{\"include_usage\":true}")
                .append(ignoreEos ? ",\"ignore_eos\":true}" : "}").toString();
    }

    private String quote(String s) {
        try {
            return json.writeValueAsString(s);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
