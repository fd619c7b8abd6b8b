package dev.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.core.TandemException;
import dev.tandem.core.cluster.ClusterConfig;
import dev.tandem.core.cluster.ClusterConfigLoader;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A whole cluster on this host, every role its own OS process: the expert nodes, then the
 * attention nodes, sharing one media driver (aeron-ipc) owned by this process. Requests go to
 * an attention node's stdin and results come back on its stdout. {@link #close} stops
 * everything and deletes what it made (config, logs, the driver's directory), also when a node
 * failed; a JVM shutdown hook does the same on Ctrl-C.
 */
final class LocalCluster implements AutoCloseable {
    /**
     * @param attentionThreads kernel threads per attention node; 0 = {@code threads}, as expert nodes have
     * @param device           every node's device (null: auto); @param dtype likewise
     * @param wireDtype        the cluster config's wire_dtype: auto, fp32 or bf16
     * @param placement        per-node devices (--devices and the per-role lists); null: every node on {@code device}
     * @param transport        "aeron-ipc", or "aeron-udp": every node at a 127.0.0.1 port of its own, the driver
     *                         sending and receiving UDP datagrams as it would between hosts
     */
    record Options(Path model, int attentionNodes, int expertNodes, int microBatches, int threads, int maxBatchTokens,
                   int kvTokens, int attentionThreads, String device, String dtype, String wireDtype,
                   DevicePlacement placement, String transport) {
        Options(Path model, int attentionNodes, int expertNodes, int microBatches, int threads, int maxBatchTokens,
                int kvTokens, int attentionThreads) {
            this(model, attentionNodes, expertNodes, microBatches, threads, maxBatchTokens, kvTokens, attentionThreads,
                    null, null, "auto", null, "aeron-ipc");
        }

        Options overUdp() {
            return new Options(model, attentionNodes, expertNodes, microBatches, threads, maxBatchTokens, kvTokens,
                    attentionThreads, device, dtype, wireDtype, placement, "aeron-udp");
        }
    }

    private final ObjectMapper json = new ObjectMapper();
    private final NodeProcesses processes;
    private final List<Process> experts = new ArrayList<>();
    private final List<Process> attention = new ArrayList<>();
    private final List<PrintWriter> requestPipes = new ArrayList<>();
    private final Map<String, CompletableFuture<JsonNode>> pending = new ConcurrentHashMap<>();
    private final List<JsonNode> expertStats = new ArrayList<>();
    private final List<Thread> expertReaders = new ArrayList<>();
    private final AtomicLong nextId = new AtomicLong();
    private final int microBatches;

    LocalCluster(Options o) {
        if (o.attentionNodes() < 1 || o.expertNodes() < 1) {
            throw new TandemException("a cluster needs at least one attention node and one expert node");
        }
        this.microBatches = o.microBatches();
        processes = new NodeProcesses();
        try {
            ClusterConfig config = new ClusterConfig(o.model().toAbsolutePath(), o.transport(), processes.aeronDirectory(),
                    endpointsFor(o.transport(), nodes(o.attentionNodes(), null)),
                    endpointsFor(o.transport(), expertPlacement(o.model(), o.expertNodes())), o.microBatches(),
                    o.maxBatchTokens(), o.kvTokens(), o.threads(), o.wireDtype(), 1, 120_000, ClusterConfig.DEFAULT_STREAM_ID_BASE,
                    o.attentionThreads()).withDevice(o.device(), o.dtype());
            if (o.placement() != null) {
                config = o.placement().place(config, 0);
            }
            Path file = processes.workDir().resolve("cluster.properties");
            Files.writeString(file, ClusterConfigLoader.format(config));
            for (int i = 0; i < o.expertNodes(); i++) {
                Process p = start("expert-node", file, i);
                experts.add(p);
                expertReaders.add(Thread.ofPlatform().daemon().start(() -> readExpertStats(p)));
            }
            for (int i = 0; i < o.attentionNodes(); i++) {
                Process p = start("attention-node", file, i);
                attention.add(p);
                requestPipes.add(new PrintWriter(new OutputStreamWriter(p.getOutputStream(), StandardCharsets.UTF_8), true));
                int node = i;
                Thread.ofPlatform().daemon().name("attention-" + i + "-results").start(() -> readResults(node, p));
                p.onExit().thenRun(() -> nodeExited("attention node " + node, p));
            }
            for (int i = 0; i < experts.size(); i++) {
                int node = i;
                Process p = experts.get(i);
                p.onExit().thenRun(() -> nodeExited("expert node " + node, p));
            }
        } catch (IOException | RuntimeException e) {
            close();
            throw e instanceof TandemException t ? t : new TandemException("cannot start the cluster: " + e.getMessage(), e);
        }
    }

    static List<ClusterConfig.Node> nodes(int count, int[][] experts) {
        List<ClusterConfig.Node> nodes = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            nodes.add(new ClusterConfig.Node(i, "ipc", experts == null ? new int[0] : experts[i]));
        }
        return nodes;
    }

    /** The nodes as {@code transport} reaches them: as they are over aeron-ipc, each at its own port over aeron-udp. */
    static List<ClusterConfig.Node> endpointsFor(String transport, List<ClusterConfig.Node> nodes) {
        return "aeron-udp".equals(transport) ? onLoopbackPorts(nodes) : nodes;
    }

    /**
     * The nodes, each at a free UDP port of 127.0.0.1 (free when asked: the OS hands out ephemeral
     * ports in turn, so one taken again before the node binds it is unlikely, and then a clear error).
     */
    static List<ClusterConfig.Node> onLoopbackPorts(List<ClusterConfig.Node> nodes) {
        List<ClusterConfig.Node> placed = new ArrayList<>();
        for (ClusterConfig.Node n : nodes) {
            try (java.net.DatagramSocket probe = new java.net.DatagramSocket(0, java.net.InetAddress.getLoopbackAddress())) {
                placed.add(new ClusterConfig.Node(n.id(), "127.0.0.1:" + probe.getLocalPort(), n.experts(), n.device(),
                        n.memoryShare()));
            } catch (java.net.SocketException e) {
                throw new TandemException("no free UDP port on 127.0.0.1 for a node: " + e.getMessage(), e);
            }
        }
        return placed;
    }

    /** Contiguous blocks of experts per node; with more nodes than experts, replicas round-robin. */
    static List<ClusterConfig.Node> expertPlacement(Path model, int count) {
        int experts = dev.tandem.core.config.ModelConfigLoader.load(model).numExperts();
        int[][] held = new int[count][];
        for (int i = 0; i < count; i++) {
            if (count <= experts) {
                int from = i * experts / count;
                int to = (i + 1) * experts / count;
                held[i] = java.util.stream.IntStream.range(from, to).toArray();
            } else {
                held[i] = new int[] {i % experts};
            }
        }
        return nodes(count, held);
    }

    private Process start(String role, Path config, int id) throws IOException {
        return processes.start(role + "-" + id, List.of(role, "--config", config.toString(), "--id", Integer.toString(id),
                "--micro-batches", Integer.toString(microBatches)));
    }

    /** Sends a request (its "id" is set here) to {@code node}; the future completes with the result line. */
    CompletableFuture<JsonNode> submit(int node, ObjectNode request) {
        String id = "r" + nextId.incrementAndGet();
        request.put("id", id);
        CompletableFuture<JsonNode> result = new CompletableFuture<>();
        pending.put(id, result);
        send(node, request.toString());
        return result;
    }

    /** The attention node's metrics. */
    CompletableFuture<JsonNode> stats(int node) {
        CompletableFuture<JsonNode> result = new CompletableFuture<>();
        pending.put("stats-" + node, result);
        send(node, "{\"stats\":true}");
        return result;
    }

    /** Every node starts its metrics afresh: the attention nodes at their next step, the expert nodes at their next call. */
    void resetStats() {
        for (int i = 0; i < attention.size(); i++) {
            send(i, "{\"reset_stats\":true}");
        }
        for (Process p : experts) {
            try {
                p.getOutputStream().write("{\"reset_stats\":true}\n".getBytes(StandardCharsets.UTF_8));
                p.getOutputStream().flush();
            } catch (IOException e) {
                failAll("an expert node does not read its stdin (it exited?): " + e.getMessage());
            }
        }
    }

    /** Expert nodes report their metrics when they stop, after {@link #close}. */
    List<JsonNode> expertStats() {
        synchronized (expertStats) {
            return List.copyOf(expertStats);
        }
    }

    int attentionNodes() {
        return attention.size();
    }

    private void send(int node, String line) {
        PrintWriter pipe = requestPipes.get(node);
        synchronized (pipe) {
            pipe.println(line);
            if (pipe.checkError()) {
                failAll("attention node " + node + " does not accept requests (it exited?)");
            }
        }
    }

    private void readResults(int node, Process p) {
        try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line = out.readLine(); line != null; line = out.readLine()) {
                JsonNode result = json.readTree(line);
                String id = result.has("stats") ? "stats-" + node : result.path("id").asText(null);
                CompletableFuture<JsonNode> f = id == null ? null : pending.remove(id);
                if (f != null) {
                    f.complete(result);
                } else if (result.has("error")) {
                    failAll("attention node " + node + ": " + result.get("error").asText());
                }
            }
        } catch (IOException e) {
            failAll("attention node " + node + ": " + e.getMessage());
        }
    }

    private void readExpertStats(Process p) {
        try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line = out.readLine(); line != null; line = out.readLine()) {
                JsonNode node = json.readTree(line);
                synchronized (expertStats) {
                    expertStats.add(node.path("stats"));
                }
            }
        } catch (IOException e) {
            // the node died; nodeExited reports it
        }
    }

    private void nodeExited(String name, Process p) {
        if (!processes.closing()) {
            failAll(name + " exited with code " + p.exitValue() + "; its log: "
                    + processes.logTail(name.replace(" node ", "-node-")));
        }
    }

    private void failAll(String reason) {
        TandemException e = new TandemException(reason);
        pending.values().forEach(f -> f.completeExceptionally(e));
        pending.clear();
    }

    /**
     * Stops the attention nodes by closing their input (they finish their work first), lets the
     * expert nodes stop when the attention nodes are gone, kills what outlives the timeout, and
     * deletes the cluster's files and the driver's directory.
     */
    @Override
    public synchronized void close() {
        requestPipes.forEach(PrintWriter::close);
        processes.close();
        for (Thread reader : expertReaders) {
            try {
                reader.join(2_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        failAll("the cluster stopped");
    }
}
