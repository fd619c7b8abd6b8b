package dev.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.attention.AttentionNode;
import dev.tandem.core.cluster.ClusterConfig;
import dev.tandem.core.cluster.ClusterToken;
import dev.tandem.core.config.ModelConfigLoader;
import dev.tandem.expert.ExpertNode;
import dev.tandem.transport.ClusterTransport;
import io.aeron.driver.MediaDriver;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.channels.Channels;
import java.nio.channels.Pipe;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.stream.IntStream;

/**
 * A whole cluster in this JVM: one shared media driver, each expert node and attention node on
 * its own thread, exactly as the node commands run them ({@code new XNode(config, id, m)}, then
 * {@code serve}); an attention node's stdin and stdout are pipes. {@link #close} closes the
 * request pipes and waits, bounded, for every node to end, then closes the driver.
 */
final class InJvmCluster implements AutoCloseable {
    static final long RECEIVE_TIMEOUT_MS = 30_000;
    private static final long STOP_TIMEOUT_MS = 30_000;

    /** How one node's thread ended: {@code serve}'s reason for an expert node, or its failure. */
    record Ending(String node, String reason, Throwable failure) {
    }

    private final ObjectMapper json = new ObjectMapper();
    private final MediaDriver driver;
    private final ClusterConfig config;
    private final List<Thread> threads = new ArrayList<>();
    private final List<PrintWriter> requestPipes = new ArrayList<>();
    private final List<CompletableFuture<Ending>> endings = new ArrayList<>();
    private final Map<String, CompletableFuture<JsonNode>> pending = new ConcurrentHashMap<>();
    private final AtomicLong nextId = new AtomicLong();
    private List<Ending> ended = List.of();
    private boolean closed;

    InJvmCluster(Path model, int attentionNodes, int expertNodes, int microBatches) {
        this(model, attentionNodes, expertNodes, microBatches, "fp32");
    }

    /** {@code wireDtype}: the activations on the wire, fp32 or bf16; every node on the CPU. */
    InJvmCluster(Path model, int attentionNodes, int expertNodes, int microBatches, String wireDtype) {
        this(model, attentionNodes, expertNodes, microBatches, wireDtype, "cpu", "cpu", "float32");
    }

    /** The attention nodes on {@code attentionDevice}, the expert nodes on {@code expertDevice}, all in {@code dtype}. */
    InJvmCluster(Path model, int attentionNodes, int expertNodes, int microBatches, String wireDtype,
                 String attentionDevice, String expertDevice, String dtype) {
        this(model, attentionNodes, expertNodes, microBatches, wireDtype, attentionDevice, expertDevice, dtype,
                null, null, endpoints -> { });
    }

    /**
     * M2N over TCP, every node on the CPU: each expert node listens at a loopback port of its own, and
     * every node has {@code token}. {@code beforeAttentionNodes} gets the expert nodes' {@code host:port}s
     * once they are started, before any attention node connects.
     */
    InJvmCluster(Path model, int attentionNodes, int expertNodes, int microBatches, ClusterToken token,
                 Consumer<List<String>> beforeAttentionNodes) {
        this(model, attentionNodes, expertNodes, microBatches, "fp32", "cpu", "cpu", "float32",
                freeLoopbackEndpoints(expertNodes), token, beforeAttentionNodes);
    }

    private InJvmCluster(Path model, int attentionNodes, int expertNodes, int microBatches, String wireDtype,
                         String attentionDevice, String expertDevice, String dtype, List<String> tcpEndpoints,
                         ClusterToken token, Consumer<List<String>> beforeAttentionNodes) {
        driver = ClusterTransport.launchSharedDriver();
        try {
            List<ClusterConfig.Node> experts = nodes(expertNodes, placement(model, expertNodes), expertDevice);
            if (tcpEndpoints != null) {
                experts = IntStream.range(0, expertNodes).mapToObj(i -> new ClusterConfig.Node(i, tcpEndpoints.get(i),
                        placement(model, expertNodes)[i], expertDevice)).toList();
            }
            config = new ClusterConfig(model.toAbsolutePath(), tcpEndpoints == null ? "aeron-ipc" : "tcp",
                    driver.aeronDirectoryName(), nodes(attentionNodes, null, attentionDevice), experts, microBatches, 64,
                    512, 1, wireDtype, 1, RECEIVE_TIMEOUT_MS, ClusterConfig.DEFAULT_STREAM_ID_BASE, 0, "cpu", dtype);
            for (int i = 0; i < expertNodes; i++) {
                int id = i;
                start("expert-" + id, () -> {
                    try (ExpertNode node = new ExpertNode(config, id, microBatches, token)) {
                        return node.serve();
                    }
                });
            }
            if (tcpEndpoints != null) {
                beforeAttentionNodes.accept(tcpEndpoints);
            }
            for (int i = 0; i < attentionNodes; i++) {
                int id = i;
                Pipe pipe = Pipe.open();
                requestPipes.add(new PrintWriter(new OutputStreamWriter(Channels.newOutputStream(pipe.sink()),
                        StandardCharsets.UTF_8), true));
                BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(pipe.source()),
                        StandardCharsets.UTF_8));
                PrintStream out = new PrintStream(new LineSink(this::onResult), true, StandardCharsets.UTF_8);
                start("attention-" + id, () -> {
                    try (AttentionNode node = new AttentionNode(config, id, microBatches, null, 0, token)) {
                        node.serve(in, out);
                        return "input closed";
                    }
                });
            }
        } catch (IOException | RuntimeException e) {
            close();
            throw e instanceof IOException io ? new UncheckedIOException(io) : (RuntimeException) e;
        }
    }

    private interface NodeBody {
        String run();
    }

    private void start(String name, NodeBody body) {
        CompletableFuture<Ending> ending = new CompletableFuture<>();
        endings.add(ending);
        threads.add(Thread.ofPlatform().name("in-jvm-" + name).start(() -> {
            try {
                ending.complete(new Ending(name, body.run(), null));
            } catch (Throwable t) {
                ending.complete(new Ending(name, null, t));
                failAll(new IllegalStateException(name + " failed: " + t, t));
            }
        }));
    }

    /** {@code count} loopback {@code host:port}s free a moment ago. */
    private static List<String> freeLoopbackEndpoints(int count) {
        List<String> endpoints = new ArrayList<>();
        List<java.net.ServerSocket> held = new ArrayList<>();
        try {
            for (int i = 0; i < count; i++) {
                java.net.ServerSocket socket = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress());
                held.add(socket);
                endpoints.add("127.0.0.1:" + socket.getLocalPort());
            }
            for (java.net.ServerSocket socket : held) {
                socket.close();
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return endpoints;
    }

    /** Contiguous blocks of experts per node, as {@code tandem local} places them. */
    static int[][] placement(Path model, int nodes) {
        int experts = ModelConfigLoader.load(model).numExperts();
        return IntStream.range(0, nodes)
                .mapToObj(i -> IntStream.range(i * experts / nodes, (i + 1) * experts / nodes).toArray())
                .toArray(int[][]::new);
    }

    private static List<ClusterConfig.Node> nodes(int count, int[][] experts, String device) {
        List<ClusterConfig.Node> nodes = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            nodes.add(new ClusterConfig.Node(i, "ipc", experts == null ? new int[0] : experts[i], device));
        }
        return nodes;
    }

    String aeronDirectory() {
        return driver.aeronDirectoryName();
    }

    /** Sends {@code request} (its id is set here) to attention node {@code node}. */
    CompletableFuture<JsonNode> submit(int node, ObjectNode request) {
        String id = "r" + nextId.incrementAndGet();
        request.put("id", id);
        CompletableFuture<JsonNode> result = new CompletableFuture<>();
        pending.put(id, result);
        PrintWriter pipe = requestPipes.get(node);
        synchronized (pipe) {
            pipe.println(request);
        }
        return result;
    }

    private void onResult(String line) {
        try {
            JsonNode result = json.readTree(line);
            CompletableFuture<JsonNode> f = pending.remove(result.path("id").asText(""));
            if (f != null) {
                f.complete(result);
            } else if (result.has("error")) {
                failAll(new IllegalStateException("error line without a pending id: " + line));
            }
        } catch (IOException e) {
            failAll(new IllegalStateException("not a JSON line: " + line, e));
        }
    }

    private void failAll(Throwable t) {
        pending.values().forEach(f -> f.completeExceptionally(t));
        pending.clear();
    }

    /** How each node ended, in start order (experts first); empty until {@link #close}. */
    List<Ending> endings() {
        return ended;
    }

    /** Node threads still alive after {@link #close}: none when every node ended. */
    List<String> liveThreads() {
        return threads.stream().filter(Thread::isAlive).map(Thread::getName).toList();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        requestPipes.forEach(PrintWriter::close);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(STOP_TIMEOUT_MS);
        List<Ending> result = new ArrayList<>();
        for (int i = 0; i < threads.size(); i++) {
            try {
                threads.get(i).join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            Ending e = endings.get(i).getNow(null);
            result.add(e != null ? e : new Ending(threads.get(i).getName(), null,
                    new IllegalStateException("still running after " + STOP_TIMEOUT_MS + " ms")));
        }
        ended = List.copyOf(result);
        failAll(new IllegalStateException("the cluster stopped"));
        driver.close();
    }

    /** Bytes written by an attention node, cut into lines. */
    private static final class LineSink extends OutputStream {
        private final ByteArrayOutputStream line = new ByteArrayOutputStream();
        private final Consumer<String> onLine;

        LineSink(Consumer<String> onLine) {
            this.onLine = onLine;
        }

        @Override
        public synchronized void write(int b) {
            if (b == '\n') {
                String s = line.toString(StandardCharsets.UTF_8).strip();
                line.reset();
                if (!s.isEmpty()) {
                    onLine.accept(s);
                }
            } else {
                line.write(b);
            }
        }
    }
}
