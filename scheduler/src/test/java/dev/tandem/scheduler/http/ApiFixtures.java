package dev.tandem.scheduler.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.checkpoint.SafetensorsFile;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** The core module's fixtures with transformers' greedy tokens, and an HTTP client for the API. */
final class ApiFixtures {
    static final ObjectMapper JSON = new ObjectMapper();
    static final int PROMPTS = 3;
    static final int GREEDY_TOKENS = 12;
    static final int THREADS = 2;
    static final Duration TIMEOUT = Duration.ofSeconds(60);

    /** One fixture prompt: its ids and transformers' 12 greedy tokens. */
    record Prompt(int[] inputIds, int[] greedy) {
    }

    /** An HTTP answer: status, body, and the headers that matter here. */
    record Reply(int status, String body, HttpResponse<String> response) {
        JsonNode json() {
            try {
                return JSON.readTree(body);
            } catch (IOException e) {
                throw new AssertionError("not JSON: " + body, e);
            }
        }
    }

    private ApiFixtures() {
    }

    /** core/src/test/resources/fixtures/{model}; surefire runs in the module's directory. */
    static Path fixture(String model) {
        Path dir = Path.of("").toAbsolutePath().resolveSibling("core").resolve("src/test/resources/fixtures").resolve(model);
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            throw new IllegalStateException("fixture not found at " + dir);
        }
        return dir;
    }

    static List<Prompt> prompts(String model) {
        List<Prompt> prompts = new ArrayList<>();
        try (SafetensorsFile expected = SafetensorsFile.open(fixture(model).resolve("expected.safetensors"))) {
            for (int p = 0; p < PROMPTS; p++) {
                prompts.add(new Prompt(ints(expected, "p" + p + ".input_ids"), ints(expected, "p" + p + ".greedy")));
            }
        }
        return prompts;
    }

    private static int[] ints(SafetensorsFile file, String name) {
        long[] values = file.tensor(name).toLongArray();
        int[] out = new int[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = Math.toIntExact(values[i]);
        }
        return out;
    }

    static Reply post(HttpClient client, int port, String path, String body) {
        return send(client, HttpRequest.newBuilder(uri(port, path)).timeout(TIMEOUT)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build());
    }

    static Reply get(HttpClient client, int port, String path) {
        return send(client, HttpRequest.newBuilder(uri(port, path)).timeout(TIMEOUT).GET().build());
    }

    static Reply send(HttpClient client, HttpRequest request) {
        try {
            HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
            return new Reply(response.statusCode(), response.body(), response);
        } catch (IOException e) {
            throw new AssertionError(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    static URI uri(int port, String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    static HttpClient client() {
        return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(TIMEOUT).build();
    }

    /** The JSON events of an SSE body, up to (not including) [DONE]; fails if [DONE] is missing. */
    static List<JsonNode> events(String body) {
        List<JsonNode> events = new ArrayList<>();
        boolean done = false;
        for (String block : body.split("\n\n")) {
            if (block.isEmpty()) {
                continue;
            }
            if (!block.startsWith("data: ") || done) {
                throw new AssertionError("unexpected SSE block " + block + " in " + body);
            }
            String data = block.substring("data: ".length());
            if (data.equals("[DONE]")) {
                done = true;
            } else {
                try {
                    events.add(JSON.readTree(data));
                } catch (IOException e) {
                    throw new AssertionError("not JSON: " + data, e);
                }
            }
        }
        if (!done) {
            throw new AssertionError("no [DONE] in " + body);
        }
        return events;
    }

    static int[] intArray(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).intValue();
        }
        return out;
    }

    static String csv(int[] ids) {
        StringBuilder s = new StringBuilder();
        for (int id : ids) {
            s.append(s.isEmpty() ? "" : ",").append(id);
        }
        return s.toString();
    }
}
