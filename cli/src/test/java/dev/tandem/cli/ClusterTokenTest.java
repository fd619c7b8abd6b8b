package dev.tandem.cli;

import dev.tandem.attention.SchedulerConnection;
import dev.tandem.core.TandemException;
import dev.tandem.core.cluster.ClusterToken;
import dev.tandem.scheduler.cluster.NodeLink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A node with a cluster token serves only a peer that answers its challenge: a forged answer, a
 * wrong token and no token are each refused with a reason while the node waits on, and the
 * scheduler's link with the right token gets through; without a token a node listens on loopback only.
 */
class ClusterTokenTest {
    private static final ClusterToken TOKEN = ClusterToken.of("a secret only the cluster knows");
    private static final String MODEL = "sha256:" + "ab".repeat(32);

    @TempDir
    Path temp;

    @Test
    void shouldSignChallengesSoOnlyTheSameTokenVerifies() {
        String challenge = ClusterToken.challenge();
        assertEquals(64, challenge.length());
        assertTrue(TOKEN.verifies(challenge, TOKEN.answer(challenge)));
        assertFalse(TOKEN.verifies(challenge, ClusterToken.of("another secret, as long as that").answer(challenge)));
        assertFalse(TOKEN.verifies(ClusterToken.challenge(), TOKEN.answer(challenge)), "an answer to another challenge");
        assertFalse(TOKEN.verifies(challenge, null));
        assertThrows(TandemException.class, () -> ClusterToken.of("short"));
    }

    @Test
    void shouldRefuseEveryoneButTheRightTokenAndServeIt() throws Exception {
        Path portFile = temp.resolve("port");
        CompletableFuture<SchedulerConnection> accepted = CompletableFuture.supplyAsync(
                () -> SchedulerConnection.accept("127.0.0.1:0", portFile, TOKEN, MODEL));
        String hostPort = "127.0.0.1:" + awaitPort(portFile);

        try (Socket forger = new Socket("127.0.0.1", Integer.parseInt(hostPort.substring(10)))) {
            BufferedReader in = new BufferedReader(new InputStreamReader(forger.getInputStream(), StandardCharsets.UTF_8));
            String hello = in.readLine();
            assertTrue(hello.contains("\"challenge\":\""), "the node asks first: " + hello);
            assertTrue(hello.contains("\"protocol\":" + dev.tandem.core.cluster.NodeProtocol.VERSION + ",\"model\":\""
                    + MODEL + "\""), "and says what it speaks and serves: " + hello);
            OutputStream out = forger.getOutputStream();
            out.write("{\"auth\":\"00\"}\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
            assertTrue(in.readLine().contains("authentication failed"));
            assertEquals(null, in.readLine(), "and the node hangs up");
        }
        TandemException wrong = assertThrows(TandemException.class, () -> NodeLink.connect("token machine 0", hostPort,
                5_000, ClusterToken.of("a wrong secret of some length"), MODEL));
        assertTrue(wrong.getMessage().contains("refused the cluster token"), wrong.getMessage());
        TandemException none = assertThrows(TandemException.class, () -> NodeLink.connect("token machine 0", hostPort,
                5_000, null, MODEL));
        assertTrue(none.getMessage().contains("wants the cluster token"), none.getMessage());
        String other = "sha256:" + "cd".repeat(32);
        TandemException model = assertThrows(TandemException.class, () -> NodeLink.connect("token machine 0", hostPort,
                5_000, TOKEN, other));
        assertTrue(model.getMessage().contains("serves the model " + MODEL + " but the scheduler's is " + other),
                model.getMessage());
        assertFalse(accepted.isDone(), "the node still waits for its scheduler");

        NodeLink link = NodeLink.connect("token machine 0", hostPort, 5_000, TOKEN, MODEL);
        try (SchedulerConnection node = accepted.get(10, TimeUnit.SECONDS)) {
            assertTrue(link.send(new com.fasterxml.jackson.databind.ObjectMapper().readTree("{\"stats\":true}")));
            assertEquals("{\"stats\":true}", node.in().readLine(), "the first line after the handshake arrives whole");
        } finally {
            link.close();
        }
    }

    @Test
    void shouldNotListenBeyondLoopbackWithoutAToken() {
        TandemException e = assertThrows(TandemException.class,
                () -> SchedulerConnection.accept("0.0.0.0:0", null, null, MODEL));
        assertTrue(e.getMessage().contains("needs a cluster token"), e.getMessage());
    }

    /** A node of another protocol version (an older build greets without one) is refused, naming both. */
    @Test
    void shouldRefuseANodeOfAnotherProtocolVersion() throws Exception {
        try (java.net.ServerSocket fake = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            CompletableFuture<Void> greeter = CompletableFuture.runAsync(() -> {
                try (Socket s = fake.accept()) {
                    s.getOutputStream().write("{\"hello\":\"tandem-node\",\"challenge\":null}\n"
                            .getBytes(StandardCharsets.UTF_8));
                    s.getInputStream().read(); // until the scheduler hangs up
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            TandemException e = assertThrows(TandemException.class, () -> NodeLink.connect("prompt machine 0",
                    "127.0.0.1:" + fake.getLocalPort(), 5_000, null, MODEL));
            assertTrue(e.getMessage().contains("speaks node protocol 0 and this scheduler "
                    + dev.tandem.core.cluster.NodeProtocol.VERSION), e.getMessage());
            greeter.get(10, TimeUnit.SECONDS);
        }
    }

    private static int awaitPort(Path portFile) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            if (Files.exists(portFile) && !Files.readString(portFile).isBlank()) {
                return Integer.parseInt(Files.readString(portFile).trim());
            }
            Thread.sleep(10);
        }
        throw new AssertionError("the node did not listen");
    }
}
