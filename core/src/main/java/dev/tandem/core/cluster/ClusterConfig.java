package dev.tandem.core.cluster;

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
 * @param wireDtype       "fp32" (exact) or "bf16" (half the bytes) for activations on the wire
 * @param attentionThreads kernel threads of each attention node; 0 = {@code threadsPerNode} (expert
 *                        nodes have that): the balance of Ta and Te is set by cores as much as by nodes
 * @param streamIdBase    the first Aeron stream id of this cluster's M2N streams: AFD groups that
 *                        share a media driver need bases at least 1024 apart
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
        int attentionThreads) {

    /** @param endpoint host:port for UDP/TCP, "ipc" otherwise; @param experts held experts (expert nodes) */
    public record Node(int id, String endpoint, int[] experts) {
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
