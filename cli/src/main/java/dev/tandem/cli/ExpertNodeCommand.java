package dev.tandem.cli;

import dev.tandem.core.cluster.ClusterConfig;
import dev.tandem.core.cluster.ClusterConfigLoader;
import dev.tandem.expert.ExpertNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code tandem expert-node}: one expert node process; serves until the attention nodes go. */
@Command(name = "expert-node", mixinStandardHelpOptions = true,
        description = "Run an expert node of a cluster; prints its metrics as one JSON line on stdout when it stops.")
final class ExpertNodeCommand implements Callable<Integer> {
    @Option(names = "--config", required = true, description = "Cluster config file (properties).")
    Path config;

    @Option(names = "--id", required = true, description = "This node's id among the expert nodes.")
    int id;

    @Option(names = "--micro-batches", description = "m, overriding the config (the launcher passes the one it chose).")
    Integer microBatches;

    @Override
    public Integer call() {
        ClusterConfig cluster = ClusterConfigLoader.load(config);
        NodeChecks.checkId("expert", id, cluster.expertNodes().size());
        int m = NodeChecks.microBatches(cluster, microBatches);
        try (ExpertNode node = new ExpertNode(cluster, id, m)) {
            System.err.println("tandem: expert node " + id + " ready (m=" + m + ")");
            String reason = node.serve();
            System.err.println("tandem: expert node " + id + " stopping: " + reason);
            System.out.println("{\"stats\":" + node.metrics().toJson(id) + "}");
            System.out.flush();
        }
        return 0;
    }
}
