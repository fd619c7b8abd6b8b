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
}
