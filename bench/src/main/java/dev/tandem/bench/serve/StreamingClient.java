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
 * Sends one streamed {@code POST /v1/completions} (token-id prompt, greedy, {@code ignore_eos}) and times the
 * server-sent events as they arrive. Blocks the calling thread: run it on a virtual thread per request.
 */
public final class StreamingClient {
    private static final int ERROR_BODY_CHARS = 2000;

    private final HttpClient client;
    private final URI completionsUri;
    private final String model;
    private final PromptFactory prompts;
    private final String apiKey;
    private final ObjectMapper json = new ObjectMapper();

    /** {@code apiKey}: sent as {@code Authorization: Bearer} on every request; null: none. */
    public StreamingClient(HttpClient client, URI baseUrl, String model, PromptFactory prompts, String apiKey) {
        this.client = client;
        this.completionsUri = baseUrl.resolve("v1/completions");
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
        double ttftMs = Double.NaN;
        double[] gaps = new double[Math.max(16, request.outputTokens())];
        int gapCount = 0;
        int tokens = 0;
        long lastToken = 0;
        for (String line = reader.readLine(); line != null; line = reader.readLine()) {
            long now = System.nanoTime();
            if (!line.startsWith("data:")) {
                continue; // blank separators, comments, event: lines
            }
            String payload = line.substring(5).trim();
            if (payload.equals("[DONE]")) {
                return new RequestOutcome(request, sentAtMs, 200, null, null, ttftMs, Arrays.copyOf(gaps, gapCount),
                        (now - sent) / 1e6, tokens);
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
            int carried = tokensIn(chunk.path("choices").path(0));
            if (carried == 0) {
                continue;
            }
            if (tokens == 0) {
                ttftMs = (now - sent) / 1e6; // further tokens of the first chunk came with it: no gap to spread
            } else {
                double gap = (now - lastToken) / 1e6 / carried;
                if (gapCount + carried > gaps.length) {
                    gaps = Arrays.copyOf(gaps, Math.max(gaps.length * 2, gapCount + carried));
                }
                Arrays.fill(gaps, gapCount, gapCount + carried, gap);
                gapCount += carried;
            }
            tokens += carried;
            lastToken = now;
        }
        return RequestOutcome.failed(request, sentAtMs, 200, RequestOutcome.ERROR_STREAM,
                "the stream ended without data: [DONE] after " + tokens + " tokens");
    }

    /** Tokens by {@code token_ids}; a server without that field counts one per non-empty text. */
    private static int tokensIn(JsonNode choice) {
        JsonNode ids = choice.path("token_ids");
        if (ids.isArray()) {
            return ids.size();
        }
        return choice.path("text").asText("").isEmpty() ? 0 : 1;
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
        int[] prompt = prompts.prompt(request.index(), request.promptTokens());
        StringBuilder sb = new StringBuilder(prompt.length * 6 + 160);
        sb.append("{\"model\":").append(quote(model)).append(",\"prompt\":[");
        for (int i = 0; i < prompt.length; i++) {
            sb.append(i == 0 ? "" : ",").append(prompt[i]);
        }
        return sb.append("],\"max_tokens\":").append(request.outputTokens())
                .append(",\"temperature\":0,\"stream\":true,\"ignore_eos\":true}").toString();
    }

    private String quote(String s) {
        try {
            return json.writeValueAsString(s);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
