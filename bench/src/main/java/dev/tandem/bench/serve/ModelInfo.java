package dev.tandem.bench.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.TandemException;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/**
 * What the server says about its model in {@code GET /v1/models}: {@code data[0]}'s id and Tandem's
 * extensions {@code max_model_len} and {@code vocab_size} (0 when absent).
 */
public record ModelInfo(String id, int maxModelLen, int vocabSize) {
    /** {@code apiKey}: sent as {@code Authorization: Bearer}; null: none. */
    public static ModelInfo fetch(HttpClient client, URI baseUrl, String apiKey) {
        URI uri = baseUrl.resolve("v1/models");
        try {
            HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(30)).GET();
            if (apiKey != null) {
                request.header("Authorization", "Bearer " + apiKey);
            }
            HttpResponse<String> response = client.send(request.build(), HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() != 200) {
                throw new TandemException(uri + ": HTTP " + response.statusCode() + ": " + response.body());
            }
            JsonNode model = new ObjectMapper().readTree(response.body()).path("data").path(0);
            if (model.isMissingNode()) {
                throw new TandemException(uri + ": no model in data[]: " + response.body());
            }
            return new ModelInfo(model.path("id").asText(), model.path("max_model_len").asInt(0),
                    model.path("vocab_size").asInt(0));
        } catch (IOException e) {
            throw new TandemException(uri + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TandemException(uri + ": interrupted", e);
        }
    }
}
