package dev.tandem.scheduler.http;

import dev.tandem.scheduler.engine.ColocatedEngine;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The front end against hostile clients: a connection that sends a request too slowly
 * (slowloris) or nothing at all is closed within the request timeout, one past the connection
 * cap is answered 503, and a stream that runs past the timeout is not cut.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ConnectionLimitsTest {
    private static final long TIMEOUT_MS = 600;
    private static final int MAX_CONNECTIONS = 2;

    private ColocatedEngine engine;
    private HttpApiServer server;

    @BeforeAll
    void start() {
        engine = new ColocatedEngine(ApiFixtures.fixture("mixtral-tiny"), "mixtral-tiny", ApiFixtures.THREADS, 256, 4096, 256);
    }

    /** A server of its own for each test, so that no other test's connection counts against the cap. */
    @org.junit.jupiter.api.BeforeEach
    void serve() {
        server = HttpApiServer.start(HttpApiContext.of(engine, null)
                .withLimits(new HttpApiContext.Limits(MAX_CONNECTIONS, TIMEOUT_MS)), "127.0.0.1", 0);
    }

    @org.junit.jupiter.api.AfterEach
    void unserve() {
        server.close();
    }

    @AfterAll
    void stop() {
        engine.close();
    }

    @Test
    void shouldCloseASlowlorisAndAnIdleConnectionWithinTheTimeout() throws Exception {
        try (Socket slow = new Socket("127.0.0.1", server.port()); Socket idle = new Socket("127.0.0.1", server.port())) {
            long start = System.nanoTime();
            OutputStream out = slow.getOutputStream();
            out.write("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            // a header line a third of the timeout apart: the connection still goes at the deadline
            for (int i = 0; i < 5 && !closedWithin(slow, TIMEOUT_MS / 3); i++) {
                try {
                    out.write(("X-Slow-" + i + ": 1\r\n").getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                } catch (IOException closed) {
                    break;
                }
            }
            assertTrue(closedWithin(slow, 3 * TIMEOUT_MS), "the slow request's connection is closed");
            assertTrue(closedWithin(idle, 3 * TIMEOUT_MS), "the idle connection is closed");
            long ms = (System.nanoTime() - start) / 1_000_000;
            assertTrue(ms < 6 * TIMEOUT_MS, "closed after " + ms + " ms");
        }
    }

    @Test
    void shouldAnswer503PastTheConnectionCapAndServeAgainOnceConnectionsGo() throws Exception {
        try (Socket a = new Socket("127.0.0.1", server.port()); Socket b = new Socket("127.0.0.1", server.port())) {
            Thread.sleep(100); // both registered
            try (Socket extra = new Socket("127.0.0.1", server.port())) {
                String reply = readAll(extra);
                assertTrue(reply.startsWith("HTTP/1.1 503"), reply);
                assertTrue(reply.contains("too_many_connections"), reply);
            }
        }
        Thread.sleep(200); // the two closed
        try (var client = ApiFixtures.client()) {
            assertEquals(200, ApiFixtures.get(client, server.port(), "/health").status());
        }
    }

    @Test
    void shouldNotCutAStreamThatRunsPastTheTimeout() {
        String body = "{\"prompt\":[1,17,42],\"max_tokens\":400,\"ignore_eos\":true,\"temperature\":0,\"stream\":true}";
        long start = System.nanoTime();
        ApiFixtures.Reply reply;
        try (var client = ApiFixtures.client()) {
            reply = ApiFixtures.post(client, server.port(), "/v1/completions", body);
        }
        long ms = (System.nanoTime() - start) / 1_000_000;
        assertEquals(200, reply.status());
        int tokens = 0;
        for (var event : ApiFixtures.events(reply.body())) {
            tokens += event.at("/choices/0/token_ids").size();
        }
        assertEquals(400, tokens, "every token of a stream that ran " + ms + " ms (timeout " + TIMEOUT_MS + " ms)");
    }

    /** True if the peer closed the connection (end of stream or reset) within {@code ms}. */
    private static boolean closedWithin(Socket socket, long ms) throws IOException {
        socket.setSoTimeout((int) ms);
        try {
            InputStream in = socket.getInputStream();
            while (in.read() >= 0) {
                // whatever the server says before closing (a 503) is not the question
            }
            return true;
        } catch (SocketTimeoutException stillOpen) {
            return false;
        } catch (IOException reset) {
            return true;
        }
    }

    private static String readAll(Socket socket) throws IOException {
        socket.setSoTimeout(5000);
        return new String(socket.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
    }
}
