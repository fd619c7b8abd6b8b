package dev.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

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
        Path portFile = temp.resolve("port");
        CommandLine cli = TandemCommand.commandLine();
        CompletableFuture<Integer> exit = CompletableFuture.supplyAsync(() -> cli.execute("serve",
                "--model", CliFixtures.fixture(MODEL).toString(), "--port", "0", "--port-file", portFile.toString(),
                "--served-model-name", "tiny", "--threads", "1", "--kv-tokens", "1024"));
        ServeCommand serve = (ServeCommand) cli.getSubcommands().get("serve").getCommand();
        try (HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()) {
            int port = CliFixtures.awaitPortFile(portFile, exit, START_WAIT_MS, "tandem serve");
            String body = "{\"model\":\"tiny\",\"prompt\":" + csvArray(expected.get("p0.input_ids").ints())
                    + ",\"max_tokens\":12,\"temperature\":0,\"ignore_eos\":true}";
            HttpResponse<String> reply = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                            + "/v1/completions")).timeout(Duration.ofSeconds(60))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, reply.statusCode(), reply.body());
            JsonNode ids = new ObjectMapper().readTree(reply.body()).at("/choices/0/token_ids");
            assertEquals(csvArray(expected.get("p0.greedy").ints()), ids.toString());
        } finally {
            serve.http.stop.countDown();
        }
        assertEquals(0, exit.get(30, TimeUnit.SECONDS));
    }

    private static String csvArray(int[] ids) {
        StringBuilder s = new StringBuilder("[");
        for (int i = 0; i < ids.length; i++) {
            s.append(i == 0 ? "" : ",").append(ids[i]);
        }
        return s.append(']').toString();
    }
}
