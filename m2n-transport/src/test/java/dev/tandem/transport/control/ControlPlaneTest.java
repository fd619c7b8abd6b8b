package dev.tandem.transport.control;

import dev.tandem.transport.NettyNode;
import dev.tandem.transport.control.proto.NodeState;
import dev.tandem.transport.control.proto.RegisterReply;
import dev.tandem.transport.control.proto.Role;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Registration, the fingerprint and epoch handshake, health, and losing the server. */
class ControlPlaneTest
{
    private static final String FINGERPRINT = "sha256:" + "ab".repeat(32);
    private static final String OTHER_FINGERPRINT = "sha256:" + "cd".repeat(32);
    private static final long EPOCH = 4;
    private static final Duration TIMEOUT = Duration.ofSeconds(5);

    private NettyNode node;
    private ControlServer server;

    @BeforeEach
    void start()
    {
        node = NettyNode.launch(1);
        server = new ControlServer(node, ControlServerConfig.loopback("scheduler-0", FINGERPRINT, EPOCH));
    }

    @AfterEach
    void stop()
    {
        server.close();
        node.close();
    }

    @Test
    void shouldAcceptNodeWithSameModelAndEpoch()
    {
        try (ControlClient client = connect("expert-0", NodeState.STARTING))
        {
            final RegisterReply reply = client.register(expert("expert-0", FINGERPRINT, EPOCH));
            assertTrue(reply.getAccepted());
            assertEquals(EPOCH, reply.getClusterEpoch());
            assertEquals(1, reply.getRegisteredNodes());
            assertEquals(1, server.nodes().size());
            final RegisteredNode registered = server.nodes().getFirst();
            assertEquals(Role.EXPERT, registered.registration().role());
            assertEquals("127.0.0.1:40001", registered.registration().dataEndpoint());
        }
    }

    @Test
    void shouldRefuseNodeWithOtherModelFingerprintSayingWhy()
    {
        try (ControlClient client = connect("expert-1", NodeState.STARTING))
        {
            final RegistrationRefusedException ex = assertThrows(RegistrationRefusedException.class,
                () -> client.register(expert("expert-1", OTHER_FINGERPRINT, EPOCH)));
            assertTrue(ex.reason().startsWith("model fingerprint mismatch"), ex.reason());
            assertTrue(ex.reason().contains(OTHER_FINGERPRINT) && ex.reason().contains(FINGERPRINT), ex.reason());
            assertTrue(ex.getMessage().contains("expert-1"), ex.getMessage());
            assertEquals(0, server.nodes().size());
        }
    }

    @Test
    void shouldRefuseNodeAtOtherEpochSayingWhy()
    {
        try (ControlClient client = connect("attention-0", NodeState.STARTING))
        {
            final RegistrationRefusedException ex = assertThrows(RegistrationRefusedException.class, () ->
                client.register(new NodeRegistration(Role.ATTENTION, "attention-0", "ipc", FINGERPRINT, EPOCH - 1)));
            assertEquals("cluster epoch mismatch: node attention-0 is at epoch 3 but the cluster is at epoch 4",
                ex.reason());
            assertEquals(0, server.nodes().size());
        }
    }

    @Test
    void shouldRefuseSecondLiveNodeWithSameId()
    {
        try (ControlClient first = connect("expert-2", NodeState.READY);
            ControlClient second = connect("expert-2", NodeState.READY))
        {
            first.register(expert("expert-2", FINGERPRINT, EPOCH));
            final RegistrationRefusedException ex = assertThrows(RegistrationRefusedException.class,
                () -> second.register(expert("expert-2", FINGERPRINT, EPOCH)));
            assertTrue(ex.reason().contains("already registered"), ex.reason());
        }
    }

    @Test
    void shouldAnswerPingsBothWaysWithNodeState()
    {
        try (ControlClient client = connect("expert-3", NodeState.READY))
        {
            client.register(expert("expert-3", FINGERPRINT, EPOCH));
            server.state(NodeState.DRAINING);
            final Health serverHealth = client.ping();
            assertEquals("scheduler-0", serverHealth.nodeId());
            assertEquals(NodeState.DRAINING, serverHealth.state());
            assertEquals(EPOCH, serverHealth.clusterEpoch());
            assertTrue(serverHealth.roundTripNs() > 0);
            assertEquals(NodeState.READY, server.nodes().getFirst().state(), "the ping reported the client's state");

            final Health nodeHealth = server.ping("expert-3");
            assertEquals("expert-3", nodeHealth.nodeId());
            assertEquals(NodeState.READY, nodeHealth.state());
            assertEquals(EPOCH, nodeHealth.clusterEpoch());
            assertThrows(ControlException.class, () -> server.ping("nobody"));
        }
    }

    @Test
    void shouldFailFastWithClearErrorAfterServerShutdown()
    {
        try (ControlClient client = connect("expert-4", NodeState.READY))
        {
            client.register(expert("expert-4", FINGERPRINT, EPOCH));
            server.close();
            final long startNs = System.nanoTime();
            final ControlException ex = assertThrows(ControlException.class, () ->
            {
                while (true) // the close may still be on its way: the first call may even succeed
                {
                    client.ping();
                }
            });
            final long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs);
            assertTrue(ex.getMessage().contains("control server at 127.0.0.1:") &&
                ex.getMessage().contains("closed the connection"), ex.getMessage());
            assertTrue(elapsedMs < 2000, "reported after " + elapsedMs + " ms");
            assertFalse(client.isConnected());
        }
        assertThrows(ControlException.class, () -> connect("expert-5", NodeState.READY), "nothing listens any more");
    }

    @Test
    void shouldFailWaitingRequestAtOnceWhenServerConnectionCloses() throws Exception
    {
        try (ServerSocket silent = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
            ControlClient client = ControlClient.connect(node, "127.0.0.1", silent.getLocalPort(), "expert-6",
                () -> NodeState.READY, Duration.ofSeconds(30)))
        {
            final CompletableFuture<Health> ping = CompletableFuture.supplyAsync(client::ping);
            try (Socket accepted = silent.accept(); InputStream in = accepted.getInputStream())
            {
                assertTrue(in.read() >= 0, "the ping arrived and nobody answers it");
            }
            final long startNs = System.nanoTime();
            final ExecutionException ex = assertThrows(ExecutionException.class, () -> ping.get(10, TimeUnit.SECONDS));
            assertInstanceOf(ControlException.class, ex.getCause());
            assertTrue(ex.getCause().getMessage().contains("closed the connection"), ex.getCause().getMessage());
            assertTrue(System.nanoTime() - startNs < TimeUnit.SECONDS.toNanos(2), "long before the 30 s timeout");
        }
    }

    @Test
    void shouldTimeOutWhenServerNeverAnswers() throws Exception
    {
        try (ServerSocket silent = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
            ControlClient client = ControlClient.connect(node, "127.0.0.1", silent.getLocalPort(), "expert-7",
                () -> NodeState.READY, Duration.ofMillis(300));
            Socket accepted = silent.accept())
        {
            final ControlException ex = assertThrows(ControlException.class, client::ping);
            assertTrue(ex.getMessage().contains("no reply from control server") &&
                ex.getMessage().contains("within 300 ms"), ex.getMessage());
        }
    }

    private ControlClient connect(final String nodeId, final NodeState state)
    {
        return ControlClient.connect(node, "127.0.0.1", server.port(), nodeId, () -> state, TIMEOUT);
    }

    private static NodeRegistration expert(final String nodeId, final String fingerprint, final long epoch)
    {
        return new NodeRegistration(Role.EXPERT, nodeId, "127.0.0.1:40001", fingerprint, epoch);
    }
}
