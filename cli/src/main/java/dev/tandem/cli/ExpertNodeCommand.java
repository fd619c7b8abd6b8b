package dev.tandem.cli;

import dev.tandem.core.cluster.ClusterConfig;
import dev.tandem.expert.ExpertNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.util.concurrent.Callable;

/** {@code tandem expert-node}: one expert node process; serves until the attention nodes go. */
@Command(name = "expert-node", mixinStandardHelpOptions = true,
        description = "Run an expert node of a cluster; prints its metrics as one JSON line on stdout when it stops.")
final class ExpertNodeCommand implements Callable<Integer> {
    @Mixin
    NodeOptions node;

    @Override
    public Integer call() {
        ClusterConfig cluster = node.load();
        node.checkId("expert", cluster.expertNodes().size());
        int m = node.microBatches(cluster);
        try (ExpertNode expert = new ExpertNode(cluster, node.id, m)) {
            System.err.println("tandem: expert node " + node.id + " ready (m=" + m + ")");
            String reason = expert.serve();
            System.err.println("tandem: expert node " + node.id + " stopping: " + reason);
            System.out.println("{\"stats\":" + expert.metrics().toJson(node.id) + "}");
            System.out.flush();
        }
        return 0;
    }
}
