package dev.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** {@code tandem serve} in-process: listens on an ephemeral port, serves transformers' greedy tokens, stops cleanly. */
class ServeCommandTest {
    private static final String MODEL = "mixtral-tiny";
    private static final long START_WAIT_MS = 30_000;

    @TempDir
    Path temp;

    @Test
    void shouldServeTheFixtureOnTheBoundPortUnderTheServedName() throws Exception {
        Map<String, CliFixtures.Tensor> expected = CliFixtures.readSafetensors(
                CliFixtures.fixture(MODEL).resolve("expected.safetensors"));
        try (ApiServer server = ApiServer.start(temp.resolve("port"), START_WAIT_MS, "serve", "--model",
                CliFixtures.fixture(MODEL).toString(), "--served-model-name", "tiny", "--threads", "1",
                "--kv-tokens", "1024");
             HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()) {
            String body = "{\"model\":\"tiny\",\"prompt\":" + csvArray(expected.get("p0.input_ids").ints())
                    + ",\"max_tokens\":12,\"temperature\":0,\"ignore_eos\":true}";
            HttpResponse<String> reply = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                            + server.port() + "/v1/completions")).timeout(Duration.ofSeconds(60))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, reply.statusCode(), reply.body());
            JsonNode ids = new ObjectMapper().readTree(reply.body()).at("/choices/0/token_ids");
            assertEquals(csvArray(expected.get("p0.greedy").ints()), ids.toString());
        }
    }

    private static String csvArray(int[] ids) {
        StringBuilder s = new StringBuilder("[");
        for (int i = 0; i < ids.length; i++) {
            s.append(i == 0 ? "" : ",").append(ids[i]);
        }
        return s.append(']').toString();
    }
}
