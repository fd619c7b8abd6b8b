package dev.tandem.cli;

import dev.tandem.attention.AttentionNode;
import dev.tandem.core.cluster.ClusterConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

/** {@code tandem attention-node}: one attention node process; requests as JSON lines on stdin. */
@Command(name = "attention-node", mixinStandardHelpOptions = true,
        description = "Run an attention node of a cluster: JSON request lines on stdin, JSON results on stdout.")
final class AttentionNodeCommand implements Callable<Integer> {
    @Mixin
    NodeOptions node;

    @Mixin
    RequestChannelOptions requests;

    @Option(names = "--kv-stream", description = "Take KV caches from prompt machines on this Aeron stream (Splitwise token machine).")
    Integer kvStream;

    @Option(names = "--kv-channel", defaultValue = "aeron:ipc",
            description = "The channel for --kv-stream: aeron:ipc (the cluster's media driver) or aeron:udp?endpoint=HOST:PORT (default ${DEFAULT-VALUE}).")
    String kvChannel;

    @Override
    public Integer call() {
        ClusterConfig cluster = node.load(true);
        node.checkId("attention", cluster.attentionNodes().size());
        int m = node.microBatches(cluster);
        try (AttentionNode attention = new AttentionNode(cluster, node.id, m, kvStream == null ? null : kvChannel,
                kvStream == null ? 0 : kvStream, requests.clusterToken())) {
            System.err.println("tandem: attention node " + node.id + " ready (m=" + m + ")");
            requests.serve(cluster.model(), attention::serve);
        }
        return 0;
    }
}
