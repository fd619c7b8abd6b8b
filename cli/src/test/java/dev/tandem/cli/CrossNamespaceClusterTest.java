package dev.tandem.cli;

import dev.tandem.core.cluster.ClusterConfig;
import dev.tandem.core.cluster.ClusterConfigLoader;
import dev.tandem.transport.AeronNode;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A Splitwise cluster across network namespaces, as across hosts: a prompt machine, and a token
 * group of one attention node and one expert node, each in a namespace of its own at its own
 * address of 198.18.0.0/15 (the range set aside for network benchmarks), joined by veth pairs to a
 * bridge where the scheduler runs. Every node has its own media driver; M2N frames and KV layers go
 * over aeron-udp, and the scheduler reaches the nodes over TCP with the cluster token. The
 * fixtures' greedy tokens come back over HTTP, also when each driver drops 5 % of the datagrams it
 * receives. Needs root and {@code ip}; skipped, saying so, without them. The namespaces, links and
 * processes are removed afterwards, also on failure; traffic goes only to addresses of the
 * namespaces made here.
 */
class CrossNamespaceClusterTest {
    private static final String MODEL = "mixtral-tiny";
    private static final long START_WAIT_MS = 180_000;
    private final long tag = ProcessHandle.current().pid() % 100_000;
    private final int subnet = (int) (tag % 250) + 1; // 198.18.<subnet>.0/24, one per test JVM
    private final String bridge = "tb" + tag;
    private final List<String> namespaces = new ArrayList<>();
    private final List<Process> nodes = new ArrayList<>();

    @TempDir
    Path temp;

    @ParameterizedTest(name = "datagrams dropped: {0}")
    @ValueSource(doubles = {0.0, 0.05})
    void shouldServeTheFixturesGreedyTokensFromNodesInTheirOwnNamespaces(double loss) throws Exception {
        assumeNamespaces();
        try {
            String prompt = address(2), attention = address(3), expert = address(4);
            bridge();
            namespace("p", prompt);
            namespace("a", attention);
            namespace("e", expert);
            Path token = Files.writeString(temp.resolve("cluster-token"), "a secret of this test's cluster\n");
            Path model = CliFixtures.fixture(MODEL).toAbsolutePath();
            int experts = dev.tandem.core.config.ModelConfigLoader.load(model).numExperts();
            ClusterConfig group = new ClusterConfig(model, "aeron-udp", null,
                    List.of(new ClusterConfig.Node(0, attention + ":41000", new int[0])),
                    List.of(new ClusterConfig.Node(0, expert + ":41000", IntStream.range(0, experts).toArray())),
                    2, 64, 1024, 1, "auto", 1, 120_000, ClusterConfig.DEFAULT_STREAM_ID_BASE, 0);
            Path groupFile = Files.writeString(temp.resolve("group.properties"), ClusterConfigLoader.format(group));
            List<String> lossFlag = List.of("-D" + AeronNode.RECEIVE_LOSS_PROPERTY + "=" + loss);
            String kvChannel = "aeron:udp?endpoint=" + attention + ":41001";
            node("e", lossFlag, "expert-node", "--config", groupFile.toString(), "--id", "0");
            node("a", lossFlag, "attention-node", "--config", groupFile.toString(), "--id", "0",
                    "--kv-stream", Integer.toString(ServingCluster.KV_STREAM_BASE), "--kv-channel", kvChannel,
                    "--listen", attention + ":41002", "--cluster-token-file", token.toString());
            node("p", lossFlag, "prompt-node", "--model", model.toString(), "--id", "0",
                    "--kv-stream-base", Integer.toString(ServingCluster.KV_STREAM_BASE), "--kv-channels", kvChannel,
                    "--threads", "1", "--max-batch-tokens", "64", "--kv-tokens", "1024",
                    "--listen", prompt + ":41003", "--cluster-token-file", token.toString());
            Path schedulerConfig = Files.writeString(temp.resolve("scheduler.properties"), String.join("\n",
                    "model = " + model, "name = tiny",
                    "prompt.nodes = 1", "prompt.0.address = " + prompt + ":41003",
                    "token.nodes = 1", "token.0.address = " + attention + ":41002",
                    "prompt.kv_tokens = 1024", "token.kv_tokens = 1024",
                    "connect_timeout_ms = " + START_WAIT_MS, ""));
            try (ApiServer server = ApiServer.start(temp.resolve("port"), START_WAIT_MS, "scheduler", "--config",
                    schedulerConfig.toString(), "--cluster-token-file", token.toString());
                 HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()) {
                for (FixtureExpectations.Prompt p : FixtureExpectations.load(MODEL)) {
                    assertEquals(Arrays.stream(p.greedy()).boxed().toList(), server.greedyTokenIds(client, p),
                            "greedy tokens with " + loss + " of the datagrams dropped");
                }
            }
            if (loss > 0) {
                for (String role : List.of("p", "a", "e")) {
                    assertTrue(Files.readString(log(role)).contains("drops 5.0 % of the UDP datagrams"), role + "'s log");
                }
            }
        } finally {
            cleanUp();
        }
    }

    private String address(int host) {
        return "198.18." + subnet + "." + host;
    }

    private void assumeNamespaces() throws Exception {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
                "network namespaces need root; this test runs as " + System.getProperty("user.name"));
        String probe = "tp" + tag;
        Assumptions.assumeTrue(run("ip", "netns", "add", probe) == 0, "ip netns add failed here (no ip, or no netns)");
        run("ip", "netns", "del", probe);
    }

    private void bridge() throws Exception {
        ip("link", "add", bridge, "type", "bridge");
        ip("addr", "add", address(1) + "/24", "dev", bridge);
        ip("link", "set", bridge, "up");
    }

    /** Namespace {@code role} with address {@code address}, its veth's other end on the bridge. */
    private void namespace(String role, String address) throws Exception {
        String ns = "tn" + tag + role, outside = "to" + tag + role, inside = "ti" + tag + role;
        ip("netns", "add", ns);
        namespaces.add(ns);
        ip("link", "add", outside, "type", "veth", "peer", "name", inside);
        ip("link", "set", inside, "netns", ns);
        ip("link", "set", outside, "master", bridge);
        ip("link", "set", outside, "up");
        ip("-n", ns, "link", "set", "lo", "up");
        ip("-n", ns, "addr", "add", address + "/24", "dev", inside);
        ip("-n", ns, "link", "set", inside, "up");
    }

    private void node(String role, List<String> jvmFlags, String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", "tn" + tag + role));
        command.addAll(NodeProcesses.tandemCommand(jvmFlags));
        command.addAll(List.of(args));
        nodes.add(new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log(role).toFile()).start());
    }

    private Path log(String role) {
        return temp.resolve(role + ".log");
    }

    /** The nodes stopped (they stop when the scheduler closes their connection; else killed), then the namespaces and the bridge. */
    private void cleanUp() throws Exception {
        for (Process p : nodes) {
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
        }
        for (String ns : namespaces) {
            run("ip", "netns", "del", ns); // takes its end of the veth pair, and so the other end, with it
        }
        run("ip", "link", "del", bridge);
        String left = linksLeft();
        for (long deadline = System.nanoTime() + 15_000_000_000L; !left.isEmpty() && System.nanoTime() < deadline; ) {
            Thread.sleep(200); // the kernel tears a namespace's devices down after its last process is gone
            left = linksLeft();
        }
        assertEquals("", left, "links left");
        assertTrue(output("ip", "netns", "list").lines().noneMatch(l -> l.startsWith("tn" + tag)), "namespaces left");
    }

    private String linksLeft() throws Exception {
        return output("ip", "-o", "link", "show").lines().filter(l -> l.contains(bridge + ":") || l.contains("to" + tag))
                .reduce("", String::concat);
    }

    private void ip(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("ip"));
        command.addAll(List.of(args));
        int rc = run(command.toArray(String[]::new));
        assertEquals(0, rc, String.join(" ", command));
    }

    private static int run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        return p.waitFor(30, TimeUnit.SECONDS) ? p.exitValue() : -1;
    }

    private static String output(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor(30, TimeUnit.SECONDS);
        return out;
    }
}
