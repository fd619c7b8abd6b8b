package dev.tandem.cli;

import dev.tandem.core.cluster.ClusterConfig;
import dev.tandem.expert.ExpertNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.util.concurrent.Callable;

/** {@code tandem expert-node}: one expert node process; serves until the attention nodes go. */
@Command(name = "expert-node", mixinStandardHelpOptions = true,
        description = "Run an expert node of a cluster; prints its metrics as one JSON line on stdout when it stops"
                + " (a line {\"reset_stats\":true} on stdin starts them afresh).")
final class ExpertNodeCommand implements Callable<Integer> {
    @Mixin
    NodeOptions node;

    @picocli.CommandLine.Option(names = "--cluster-token-file", description = "The cluster's shared secret (default: $"
            + dev.tandem.core.cluster.ClusterToken.ENV + "). Over M2N's TCP transport only attention nodes that sign"
            + " their hellos with it are taken; required to listen for them beyond loopback.")
    java.nio.file.Path clusterTokenFile;

    @Override
    public Integer call() {
        ClusterConfig cluster = node.load(false);
        node.checkId("expert", cluster.expertNodes().size());
        int m = node.microBatches(cluster);
        try (ExpertNode expert = new ExpertNode(cluster, node.id, m,
                dev.tandem.core.cluster.ClusterToken.load(clusterTokenFile))) {
            System.err.println("tandem: expert node " + node.id + " ready (m=" + m + ")");
            Thread.ofPlatform().daemon().name("expert-" + node.id + "-stdin").start(() -> readControlLines(expert));
            String reason = expert.serve();
            System.err.println("tandem: expert node " + node.id + " stopping: " + reason);
            System.out.println("{\"stats\":" + expert.metrics().toJson(node.id) + "}");
            System.out.flush();
        }
        return 0;
    }

    /** stdin lines: {"reset_stats":true} starts the metrics afresh (a benchmark's warm-up is over). */
    private static void readControlLines(ExpertNode expert) {
        try (var in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in, java.nio.charset.StandardCharsets.UTF_8))) {
            com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                if (!line.isBlank() && json.readTree(line).path("reset_stats").asBoolean(false)) {
                    expert.metrics().requestReset();
                }
            }
        } catch (java.io.IOException e) {
            System.err.println("tandem: expert node " + expert.id() + ": stdin unreadable (" + e.getMessage()
                    + "); its metrics count from the start");
        }
    }
}
