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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The command line as vLLM users expect it: usage errors in two lines, --version everywhere, `serve MODEL`. */
class CliConventionsTest {
    @TempDir
    Path temp;

    @Test
    void shouldAnswerAUsageErrorWithTheErrorAndWhereTheHelpIs() {
        CliFixtures.Run run = CliFixtures.tandem("serve", "--bogus");
        assertEquals(2, run.exitCode());
        assertTrue(run.err().contains("tandem: error: Unknown option: '--bogus'"), run.err());
        assertTrue(run.err().contains("see 'tandem serve --help'"), run.err());
        assertFalse(run.err().contains("Usage:"), "not the whole help: " + run.err());
        CliFixtures.Run missing = CliFixtures.tandem("serve");
        assertEquals(2, missing.exitCode());
        assertTrue(missing.err().contains("give it as MODEL or --model"), missing.err());
    }

    @Test
    void shouldPrintTheVersionFromEveryCommand() {
        for (String[] command : new String[][]{{"--version"}, {"serve", "--version"}, {"bench", "gpu", "--version"}}) {
            CliFixtures.Run run = CliFixtures.tandem(command);
            assertEquals(0, run.exitCode(), String.join(" ", command));
            assertEquals("tandem 0.1.0", run.out().strip(), String.join(" ", command));
        }
    }

    /** The shipped runtime has no benchmark peers (JMH, Jlama): the benchmarks that need one say how to get it. */
    @Test
    void shouldLeaveTheBenchmarkPeersOutOfTheRuntimeAndSaySo() {
        org.junit.jupiter.api.Assumptions.assumeFalse(dev.tandem.bench.Peers.present("org.openjdk.jmh.runner.Runner"),
                "built with the peers profile");
        assertFalse(dev.tandem.bench.Peers.present("com.github.tjake.jlama.model.AbstractModel"));
        CliFixtures.Run kernels = CliFixtures.tandem("bench", "kernels", "--quick");
        assertEquals(1, kernels.exitCode());
        assertTrue(kernels.err().contains("-Ppeers"), kernels.err());
        CliFixtures.Run generate = CliFixtures.tandem("bench", "generate", "--model", CliFixtures.fixture("mixtral-tiny").toString());
        assertEquals(1, generate.exitCode());
        assertTrue(generate.err().contains("--no-peer"), generate.err());
    }

    @Test
    void shouldServeAModelGivenAsAPositionalArgumentWithinMaxModelLen() throws Exception {
        Path model = CliFixtures.fixture("mixtral-tiny");
        try (ApiServer server = ApiServer.start(temp.resolve("port"), 120_000, "serve", model.toString(), "--threads", "1",
                "--max-model-len", "64");
             HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()) {
            JsonNode models = new ObjectMapper().readTree(client.send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + server.port() + "/v1/models")).GET().build(),
                    HttpResponse.BodyHandlers.ofString()).body());
            assertEquals(64, models.at("/data/0/max_model_len").asInt());
            String tooLong = "{\"prompt\":[" + "1,".repeat(70) + "1],\"max_tokens\":1}";
            HttpResponse<String> refused = client.send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + server.port() + "/v1/completions"))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(tooLong)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(400, refused.statusCode(), refused.body());
            assertTrue(refused.body().contains("context_length_exceeded"), refused.body());
        }
    }
}
