package dev.tandem.cli;

import dev.tandem.attention.AttentionNode;
import dev.tandem.core.cluster.ClusterConfig;
import dev.tandem.core.cluster.ClusterConfigLoader;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code tandem attention-node}: one attention node process; requests as JSON lines on stdin. */
@Command(name = "attention-node", mixinStandardHelpOptions = true,
        description = "Run an attention node of a cluster: JSON request lines on stdin, JSON results on stdout.")
final class AttentionNodeCommand implements Callable<Integer> {
    @Option(names = "--config", required = true, description = "Cluster config file (properties).")
    Path config;

    @Option(names = "--id", required = true, description = "This node's id among the attention nodes.")
    int id;

    @Option(names = "--micro-batches", description = "m, overriding the config (the launcher passes the one it chose).")
    Integer microBatches;

    @Override
    public Integer call() {
        ClusterConfig cluster = ClusterConfigLoader.load(config);
        NodeChecks.checkId("attention", id, cluster.attentionNodes().size());
        int m = NodeChecks.microBatches(cluster, microBatches);
        try (AttentionNode node = new AttentionNode(cluster, id, m)) {
            System.err.println("tandem: attention node " + id + " ready (m=" + m + ")");
            node.serve(new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)), System.out);
        }
        return 0;
    }
}
