package dev.tandem.cli;

import dev.tandem.attention.AttentionNode;
import dev.tandem.core.cluster.ClusterConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Callable;

/** {@code tandem attention-node}: one attention node process; requests as JSON lines on stdin. */
@Command(name = "attention-node", mixinStandardHelpOptions = true,
        description = "Run an attention node of a cluster: JSON request lines on stdin, JSON results on stdout.")
final class AttentionNodeCommand implements Callable<Integer> {
    @Mixin
    NodeOptions node;

    @Override
    public Integer call() {
        ClusterConfig cluster = node.load();
        node.checkId("attention", cluster.attentionNodes().size());
        int m = node.microBatches(cluster);
        try (AttentionNode attention = new AttentionNode(cluster, node.id, m)) {
            System.err.println("tandem: attention node " + node.id + " ready (m=" + m + ")");
            attention.serve(new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)), System.out);
        }
        return 0;
    }
}
