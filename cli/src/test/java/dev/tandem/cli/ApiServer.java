package dev.tandem.cli;

import picocli.CommandLine;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A serving command ({@code serve}, {@code local} with pools, {@code scheduler}) run in this JVM on its own thread
 * (not the common pool: on two cores it has one worker, which HttpClient's async stages need),
 * until {@link #close} stops it as SIGINT would and checks that it exited cleanly.
 */
record ApiServer(HttpServing http, CompletableFuture<Integer> exit, int port) implements AutoCloseable {
    static ApiServer start(Path portFile, long waitMs, String command, String... args) throws Exception {
        CommandLine cli = TandemCommand.commandLine();
        List<String> all = new ArrayList<>(List.of(command));
        all.addAll(List.of(args));
        all.addAll(List.of("--port", "0", "--port-file", portFile.toString()));
        CompletableFuture<Integer> exit = new CompletableFuture<>();
        Thread.ofPlatform().name("tandem-" + command).start(() -> exit.complete(cli.execute(all.toArray(String[]::new))));
        Object target = cli.getSubcommands().get(command).getCommand();
        HttpServing http = switch (target) {
            case ServeCommand s -> s.http;
            case SchedulerCommand s -> s.http;
            default -> ((LocalCommand) target).http;
        };
        try {
            return new ApiServer(http, exit, CliFixtures.awaitPortFile(portFile, exit, waitMs, "tandem " + command));
        } catch (Exception | AssertionError e) {
            http.stop.countDown();
            throw e;
        }
    }

    /**
     * The token ids of a whole (unstreamed) greedy completion of {@code p}'s prompt, as long as its
     * fixture's continuation, from model "tiny"; a status other than 200 fails the test.
     */
    List<Integer> greedyTokenIds(java.net.http.HttpClient client, FixtureExpectations.Prompt p) throws Exception {
        String body = "{\"model\":\"tiny\",\"prompt\":" + java.util.Arrays.toString(p.inputIds()) + ",\"max_tokens\":"
                + p.greedy().length + ",\"temperature\":0,\"ignore_eos\":true}";
        java.net.http.HttpResponse<String> r = client.send(java.net.http.HttpRequest.newBuilder(
                        java.net.URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                .timeout(java.time.Duration.ofSeconds(120)).header("Content-Type", "application/json")
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body)).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        List<Integer> ids = new ArrayList<>();
        for (com.fasterxml.jackson.databind.JsonNode id : new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(r.body()).at("/choices/0/token_ids")) {
            ids.add(id.asInt());
        }
        return ids;
    }

    @Override
    public void close() throws Exception {
        http.stop.countDown();
        assertEquals(0, exit.get(60, TimeUnit.SECONDS), "the command's exit code");
    }
}
