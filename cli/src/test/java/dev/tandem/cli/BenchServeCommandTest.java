package dev.tandem.cli;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import static dev.tandem.cli.CliFixtures.tandem;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code tandem bench serve} wired end to end against a server that streams 3 tokens per request at once. */
class BenchServeCommandTest {
    private static final String MODELS = "{\"object\":\"list\",\"data\":[{\"id\":\"m\",\"object\":\"model\",\"created\":1,"
            + "\"owned_by\":\"tandem\",\"max_model_len\":32,\"vocab_size\":500}]}";
    private static final String CHUNK = "data: {\"id\":\"c\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\","
            + "\"choices\":[{\"index\":0,\"text\":\"a\",\"token_ids\":[5],\"logprobs\":null,\"finish_reason\":null}]}\n\n";

    @TempDir
    Path temp;

    @Test
    void shouldSweepRatesAndWriteTheReports() throws Exception {
        Path trace = temp.resolve("t.csv");
        Files.writeString(trace, "TIMESTAMP,ContextTokens,GeneratedTokens\n0,10,3\n0.5,50,3\n1.0,20,3\n");
        ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.setExecutor(threads);
        server.createContext("/v1/models", exchange -> reply(exchange, MODELS, -1));
        server.createContext("/v1/completions", exchange -> {
            exchange.getRequestBody().readAllBytes();
            reply(exchange, CHUNK.repeat(3) + "data: [DONE]\n\n", 0);
        });
        server.start();
        try {
            String url = "http://127.0.0.1:" + server.getAddress().getPort();
            CliFixtures.Run run = tandem("bench", "serve", "--url", url, "--trace", trace.toString(), "--rates", "10,20",
                    "--duration", "0.5", "--scale-to-context", "--baseline-requests", "2",
                    "--json", temp.resolve("s.json").toString(), "--markdown", temp.resolve("s.md").toString());
            assertEquals(0, run.exitCode(), run.err());
            assertTrue(run.out().contains("| 10 | 5 | 5 | 0 |"), run.out());
            assertTrue(run.out().contains("| 20 | 10 | 10 | 0 |"), run.out());
            assertEquals(run.out(), Files.readString(temp.resolve("s.md")));
            assertTrue(Files.readString(temp.resolve("s.json")).contains("\"requests_detail\""));

            CliFixtures.Run both = tandem("bench", "serve", "--url", url, "--rate", "1", "--rates", "1,2");
            assertEquals(1, both.exitCode());
            assertTrue(both.err().contains("tandem: error: give --rate or --rates, not both"), both.err());
        } finally {
            server.stop(0);
            threads.shutdownNow();
        }
    }

    private static void reply(HttpExchange exchange, String body, int chunked) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.sendResponseHeaders(200, chunked == 0 ? 0 : bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }
}
