package dev.tandem.core.cluster;

import dev.tandem.core.compute.BackendSpec;

import java.nio.file.Path;
import java.util.List;

/**
 * A disaggregated deployment: which model, which attention and expert nodes, where they listen,
 * which experts each expert node holds (an expert on several nodes is replicated), and how
 * each step is cut into micro-batches. Read from a properties file ({@link ClusterConfigLoader}).
 *
 * @param microBatches    m; 0 = choose from Ta, Te and Tc measured at warm-up
 * @param transport       "aeron-ipc", "aeron-udp" or "tcp"
 * @param aeronDirectory  the shared media driver's directory for aeron-ipc; null = each node embeds one
 * @param wireDtype       "fp32" (exact), "bf16" (half the bytes) or "auto" for activations on the wire
 *                        ({@link #resolvedWireDtype})
 * @param attentionThreads kernel threads of each attention node; 0 = {@code threadsPerNode} (expert
 *                        nodes have that): the balance of Ta and Te is set by cores as much as by nodes
 * @param streamIdBase    the first Aeron stream id of this cluster's M2N streams: AFD groups that
 *                        share a media driver need bases at least 1024 apart
 * @param device          the nodes' device ({@code auto}, {@code cpu}, {@code cuda:N}) unless a node names its own
 * @param dtype           {@code auto}, {@code float32} or {@code bfloat16}
 */
public record ClusterConfig(
        Path model,
        String transport,
        String aeronDirectory,
        List<Node> attentionNodes,
        List<Node> expertNodes,
        int microBatches,
        int maxBatchTokens,
        int kvTokens,
        int threadsPerNode,
        String wireDtype,
        long epoch,
        long receiveTimeoutMs,
        int streamIdBase,
        int attentionThreads,
        String device,
        String dtype) {

    /**
     * @param endpoint host:port for UDP/TCP, "ipc" otherwise; @param experts held experts (expert nodes)
     * @param device   this node's device ({@code attention.0.device = cuda:0}); null: the cluster's
     * @param memoryShare the most of its GPU's memory the node's process holds, for nodes that share
     *                 a GPU ({@code attention.0.gpu_memory_utilization = 0.3}, or the node command's
     *                 {@code --gpu-memory-utilization}); 0: no share
     */
    public record Node(int id, String endpoint, int[] experts, String device, double memoryShare) {
        public Node(int id, String endpoint, int[] experts, String device) {
            this(id, endpoint, experts, device, 0);
        }

        public Node(int id, String endpoint, int[] experts) {
            this(id, endpoint, experts, null);
        }

        Node onDevice(String newDevice) {
            return new Node(id, endpoint, experts, newDevice, memoryShare);
        }
    }

    /** A cluster on the default device and dtype ({@code auto}). */
    public ClusterConfig(Path model, String transport, String aeronDirectory, List<Node> attentionNodes,
                         List<Node> expertNodes, int microBatches, int maxBatchTokens, int kvTokens, int threadsPerNode,
                         String wireDtype, long epoch, long receiveTimeoutMs, int streamIdBase, int attentionThreads) {
        this(model, transport, aeronDirectory, attentionNodes, expertNodes, microBatches, maxBatchTokens, kvTokens,
                threadsPerNode, wireDtype, epoch, receiveTimeoutMs, streamIdBase, attentionThreads, "auto", "auto");
    }

    /**
     * The wire's dtype, "fp32" or "bf16". {@code auto} is bf16 when every node computes in bf16
     * (dtype bfloat16, or dtype auto with every node on a CUDA device), else fp32, which is exact
     * for float32 compute. Worked out from this config alone, so that every node, on whatever
     * machine, comes to the same answer.
     */
    public String resolvedWireDtype() {
        if (!wireDtype.equals("auto")) {
            return wireDtype;
        }
        if (dtype.equals("bfloat16")) {
            return "bf16";
        }
        boolean allCuda = dtype.equals("auto") && java.util.stream.Stream.concat(attentionNodes.stream(),
                expertNodes.stream()).allMatch(n -> (n.device() != null ? n.device() : device).startsWith("cuda"));
        return allCuda ? "bf16" : "fp32";
    }

    /** What attention node {@code id} computes on. */
    public BackendSpec attentionBackend(int id) {
        return backend(attentionNodes.get(id), attentionNodeThreads());
    }

    /** What expert node {@code id} computes on. */
    public BackendSpec expertBackend(int id) {
        return backend(expertNodes.get(id), threadsPerNode);
    }

    private BackendSpec backend(Node node, int threads) {
        return new BackendSpec(node.device() != null ? node.device() : device, dtype, threads, node.memoryShare());
    }

    /**
     * This config with every node on {@code newDevice} and computing in {@code newDtype} (a node
     * command's --device and --dtype); null keeps what the file says.
     */
    public ClusterConfig withDevice(String newDevice, String newDtype) {
        List<Node> attention = newDevice == null ? attentionNodes
                : attentionNodes.stream().map(n -> n.onDevice(null)).toList();
        List<Node> experts = newDevice == null ? expertNodes
                : expertNodes.stream().map(n -> n.onDevice(null)).toList();
        return new ClusterConfig(model, transport, aeronDirectory, attention, experts, microBatches, maxBatchTokens,
                kvTokens, threadsPerNode, wireDtype, epoch, receiveTimeoutMs, streamIdBase, attentionThreads,
                newDevice == null ? device : newDevice, newDtype == null ? dtype : newDtype);
    }

    /** This config under cluster epoch {@code newEpoch} (a group restarted: frames of the old one are refused). */
    public ClusterConfig withEpoch(long newEpoch) {
        return new ClusterConfig(model, transport, aeronDirectory, attentionNodes, expertNodes, microBatches,
                maxBatchTokens, kvTokens, threadsPerNode, wireDtype, newEpoch, receiveTimeoutMs, streamIdBase,
                attentionThreads, device, dtype);
    }

    /** This config with each node on the device {@code attention}/{@code expert} give its id (null: the cluster's). */
    public ClusterConfig withNodeDevices(java.util.function.IntFunction<String> attention,
                                         java.util.function.IntFunction<String> expert) {
        return new ClusterConfig(model, transport, aeronDirectory,
                attentionNodes.stream().map(n -> n.onDevice(attention.apply(n.id()))).toList(),
                expertNodes.stream().map(n -> n.onDevice(expert.apply(n.id()))).toList(),
                microBatches, maxBatchTokens, kvTokens, threadsPerNode, wireDtype, epoch, receiveTimeoutMs, streamIdBase,
                attentionThreads, device, dtype);
    }

    /**
     * This config with one node's share of its GPU's memory (a node command's
     * --gpu-memory-utilization; null keeps what the file says).
     */
    public ClusterConfig withMemoryShare(boolean attentionRole, int id, Double share) {
        if (share == null) {
            return this;
        }
        java.util.function.UnaryOperator<List<Node>> set = nodes -> nodes.stream().map(n -> n.id() != id ? n
                : new Node(n.id(), n.endpoint(), n.experts(), n.device(), share)).toList();
        return new ClusterConfig(model, transport, aeronDirectory,
                attentionRole ? set.apply(attentionNodes) : attentionNodes,
                attentionRole ? expertNodes : set.apply(expertNodes),
                microBatches, maxBatchTokens, kvTokens, threadsPerNode, wireDtype, epoch, receiveTimeoutMs, streamIdBase,
                attentionThreads, device, dtype);
    }

    public static final int DEFAULT_STREAM_ID_BASE = 0x3000;

    /** Kernel threads of an attention node. */
    public int attentionNodeThreads() {
        return attentionThreads > 0 ? attentionThreads : threadsPerNode;
    }

    public ClusterConfig {
        attentionNodes = List.copyOf(attentionNodes);
        expertNodes = List.copyOf(expertNodes);
    }
}
