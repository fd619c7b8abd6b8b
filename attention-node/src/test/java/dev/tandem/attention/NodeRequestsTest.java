package dev.tandem.attention;

import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A node serving request lines from the network refuses a line that names a file for its logits
 * (the file would be written as the node's user, anywhere), and never submits it; the operator's
 * own lines on stdin may.
 */
class NodeRequestsTest {
    @Test
    void shouldRefuseAFileNamedOverTheNetwork() {
        AtomicInteger submitted = new AtomicInteger();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        NodeRequests requests = new NodeRequests("test node", out, 100, (line, request, listener) -> {
            submitted.incrementAndGet();
            throw new IllegalStateException("not submitted in this test");
        }, () -> "{}", () -> {
        }, false);
        String target = Path.of(System.getProperty("java.io.tmpdir"), "tandem-never-written.safetensors").toString();
        requests.start(new BufferedReader(new StringReader("{\"id\":\"r1\",\"input_ids\":[1,2],\"max_tokens\":1,"
                + "\"logits_out\":\"" + target + "\"}\n")));
        assertTrue(requests.inputClosesWithin(10_000));
        String reply = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(reply.contains("\"id\":\"r1\"") && reply.contains("logits_out is refused over the network"), reply);
        assertEquals(0, submitted.get(), "the request never reached the engine");
        assertTrue(!java.nio.file.Files.exists(Path.of(target)));
    }

    /** Asked for heartbeats, a node writes one every interval from a thread of its own, until its input closes. */
    @Test
    void shouldWriteHeartbeatsWhenAskedUntilItsInputCloses() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        NodeRequests requests = new NodeRequests("test node", out, 100, (line, request, listener) -> {
            throw new IllegalStateException("no requests in this test");
        }, () -> "{}", () -> {
        }, false);
        java.io.PipedWriter toNode = new java.io.PipedWriter();
        requests.start(new BufferedReader(new java.io.PipedReader(toNode)));
        toNode.write("{\"heartbeat_ms\":20}\n");
        toNode.flush();
        Thread.sleep(300);
        long beats = bytes.toString(StandardCharsets.UTF_8).lines().filter("{\"heartbeat\":true}"::equals).count();
        assertTrue(beats >= 5, "about 15 heartbeats in 300 ms at 20 ms, got " + beats);
        toNode.close();
        assertTrue(requests.inputClosesWithin(10_000));
        Thread.sleep(100); // the heartbeat thread sees the input closed and ends
        String after = bytes.toString(StandardCharsets.UTF_8);
        Thread.sleep(200);
        assertEquals(after, bytes.toString(StandardCharsets.UTF_8), "no heartbeats once the input closed");
    }
}
