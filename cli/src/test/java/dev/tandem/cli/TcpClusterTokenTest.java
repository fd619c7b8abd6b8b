package dev.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.cluster.ClusterToken;
import dev.tandem.transport.HelloAuth;
import dev.tandem.transport.HelloFlyweight;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.Socket;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * M2N over TCP between real attention and expert nodes (in this JVM) with a cluster token: a
 * stranger that reaches the expert node's port first and claims to be attention node 0 is closed,
 * and the real node 0 still joins and serves transformers' greedy tokens. Before the hellos were
 * signed, the first claim won and the group never formed.
 */
class TcpClusterTokenTest {
    private static final long RESULT_TIMEOUT_S = 120;

    @TempDir
    Path temp;

    @Test
    void shouldServeTheFixtureAfterAForgedHelloWasClosed() throws Exception {
        String model = "mixtral-tiny";
        List<FixtureExpectations.Prompt> prompts = FixtureExpectations.load(model).subList(0, 1);
        List<String> forgeries = new ArrayList<>();
        ClusterToken token = ClusterToken.of("the cluster's shared secret, 32+ bytes");
        ObjectMapper json = new ObjectMapper();
        try (InJvmCluster cluster = new InJvmCluster(CliFixtures.fixture(model), 1, 2, 1, token,
                endpoints -> endpoints.forEach(endpoint -> forgeries.add(forgeHello(endpoint))))) {
            List<JsonNode> results = FixtureExpectations.submitAll(json, prompts, temp, 1, cluster::submit,
                    RESULT_TIMEOUT_S);
            FixtureExpectations.check(model + " over TCP with signed hellos", prompts.get(0), results.get(0),
                    FixtureExpectations.logitsFile(temp, 0));
            cluster.close();
            for (InJvmCluster.Ending e : cluster.endings()) {
                assertNull(e.failure(), e.node() + " failed: " + e.failure());
            }
        }
        assertEquals(List.of("closed", "closed"), forgeries, "each expert node closed the stranger's hello");
    }

    /**
     * Connects to {@code hostPort} (retrying while the node starts), takes its challenge, and claims
     * to be sender 0 with a signature of a guessed token: @return "closed" once the node hangs up.
     */
    private static String forgeHello(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (true) {
            try (Socket socket = new Socket(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)))) {
                socket.setSoTimeout(10_000);
                DataInputStream in = new DataInputStream(socket.getInputStream());
                byte[] challenge = new byte[in.readInt()];
                in.readFully(challenge);
                byte[] theirs = HelloAuth.readChallenge(new UnsafeBuffer(challenge), 0, challenge.length);
                UnsafeBuffer hello = new UnsafeBuffer(new byte[HelloFlyweight.LENGTH]);
                new HelloFlyweight().wrap(hello, 0).write(0, 0)
                        .signature(HelloAuth.sign(ClusterToken.of("a guess at the cluster's secret"), theirs, 0, 0, 1));
                DataOutputStream out = new DataOutputStream(socket.getOutputStream());
                out.writeInt(HelloFlyweight.LENGTH);
                out.write(hello.byteArray());
                out.flush();
                return in.read() < 0 ? "closed" : "still open";
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    return "never reached: " + e;
                }
                try {
                    Thread.sleep(50);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    return "interrupted";
                }
            }
        }
    }
}
