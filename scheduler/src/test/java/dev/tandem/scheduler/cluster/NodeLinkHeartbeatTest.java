package dev.tandem.scheduler.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.channels.Channels;
import java.nio.channels.Pipe;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A link that expects heartbeats asks the node for them, swallows them, and loses a node that
 * falls silent for the timeout (while it still holds its pipe open: hung, not dead), once; the
 * node's lines after that are dropped. A link that never heard a heartbeat is never timed out.
 */
class NodeLinkHeartbeatTest {
    private static final long INTERVAL_MS = 20;
    private static final long TIMEOUT_MS = 200;

    @Test
    void shouldLoseANodeThatFallsSilentAndDropWhatItSaysAfter() throws Exception {
        Pipe toNode = Pipe.open();
        Pipe fromNode = Pipe.open();
        NodeLink link = new NodeLink("node", Channels.newInputStream(fromNode.source()),
                Channels.newOutputStream(toNode.sink()));
        BufferedReader node = new BufferedReader(new InputStreamReader(Channels.newInputStream(toNode.source()),
                StandardCharsets.UTF_8));
        PrintStream toLink = new PrintStream(Channels.newOutputStream(fromNode.sink()), true, StandardCharsets.UTF_8);
        List<JsonNode> lines = new CopyOnWriteArrayList<>();
        CompletableFuture<String> lost = new CompletableFuture<>();
        link.expectHeartbeats(INTERVAL_MS, TIMEOUT_MS);
        assertEquals("{\"heartbeat_ms\":20}", node.readLine(), "the node is asked for heartbeats");
        link.start(lines::add, lost::complete);
        for (int i = 0; i < 20; i++) { // 400 ms of heartbeats, and one ordinary line among them
            toLink.println("{\"heartbeat\":true}");
            if (i == 10) {
                toLink.println("{\"id\":\"r1\",\"token\":5}");
            }
            Thread.sleep(INTERVAL_MS);
        }
        assertFalse(lost.isDone(), "alive while it beats: " + lost.getNow(""));
        long silent = System.nanoTime();
        String reason = lost.get(5, TimeUnit.SECONDS); // the pipe stays open: only the silence tells
        double afterMs = (System.nanoTime() - silent) / 1e6;
        assertTrue(reason.contains("no heartbeat"), reason);
        assertTrue(afterMs >= TIMEOUT_MS - INTERVAL_MS && afterMs < TIMEOUT_MS + 1000, "lost after " + afterMs + " ms");
        assertEquals(List.of("{\"id\":\"r1\",\"token\":5}"), lines.stream().map(JsonNode::toString).toList(),
                "heartbeats are not lines for the engine");
        toLink.println("{\"id\":\"r1\",\"token\":6}");
        Thread.sleep(100);
        assertEquals(1, lines.size(), "what a lost node says later is dropped");
        link.close();
    }

    @Test
    void shouldNotTimeOutANodeThatNeverBeat() throws Exception {
        Pipe toNode = Pipe.open();   // both held open for the test: the node is there, only silent
        Pipe fromNode = Pipe.open();
        NodeLink link = new NodeLink("node", Channels.newInputStream(fromNode.source()),
                Channels.newOutputStream(toNode.sink()));
        CompletableFuture<String> lost = new CompletableFuture<>();
        link.expectHeartbeats(INTERVAL_MS, TIMEOUT_MS);
        link.start(line -> { }, lost::complete);
        Thread.sleep(3 * TIMEOUT_MS);
        assertFalse(lost.isDone(), "a node still loading (or one without heartbeats) is not timed out");
        link.close();
        fromNode.sink().close();
        toNode.source().close();
    }
}
