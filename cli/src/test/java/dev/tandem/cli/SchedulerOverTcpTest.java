package dev.tandem.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code tandem scheduler} across "machines" on loopback: a prompt machine started on its own with
 * {@code --listen} and a cluster token, the scheduler connecting to it with the same token; over
 * HTTP the fixtures' greedy tokens come back, and the node stops when the scheduler does.
 */
class SchedulerOverTcpTest {
    private static final String MODEL = "mixtral-tiny";

    @TempDir
    Path temp;

    @Test
    void shouldServeGreedyTokensThroughAListeningPromptMachineThatWantsTheClusterToken() throws Exception {
        Path token = Files.writeString(temp.resolve("cluster-token"), "a secret this test's cluster shares\n");
        Path nodePortFile = temp.resolve("node-port");
        CompletableFuture<Integer> nodeExit = new CompletableFuture<>();
        Thread.ofPlatform().name("prompt-node").start(() -> nodeExit.complete(TandemCommand.commandLine().execute(
                "prompt-node", "--model", CliFixtures.fixture(MODEL).toString(), "--listen", "127.0.0.1:0",
                "--port-file", nodePortFile.toString(), "--threads", "1", "--max-batch-tokens", "64",
                "--kv-tokens", "1024", "--cluster-token-file", token.toString())));
        int nodePort = CliFixtures.awaitPortFile(nodePortFile, nodeExit, 120_000, "tandem prompt-node");
        Path config = Files.writeString(temp.resolve("scheduler.properties"), String.join("\n",
                "model = " + CliFixtures.fixture(MODEL).toAbsolutePath(),
                "name = tiny",
                "prompt.nodes = 1",
                "prompt.0.address = 127.0.0.1:" + nodePort,
                "prompt.kv_tokens = 1024",
                "connect_timeout_ms = 30000", ""));
        List<FixtureExpectations.Prompt> prompts = FixtureExpectations.load(MODEL);
        try (ApiServer server = ApiServer.start(temp.resolve("port"), 60_000, "scheduler", "--config", config.toString(),
                "--cluster-token-file", token.toString());
             HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()) {
            for (FixtureExpectations.Prompt p : prompts) {
                assertEquals(Arrays.stream(p.greedy()).boxed().toList(), server.greedyTokenIds(client, p));
            }
        }
        assertEquals(0, nodeExit.get(60, TimeUnit.SECONDS), "the prompt machine stops when the scheduler closes it");
    }
}
