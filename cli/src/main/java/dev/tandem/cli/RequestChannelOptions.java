package dev.tandem.cli;

import dev.tandem.attention.SchedulerConnection;
import dev.tandem.core.cluster.ClusterToken;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** Where a node's request lines come from: stdin/stdout (a launcher's pipes) or one scheduler over TCP. */
final class RequestChannelOptions {
    @Option(names = "--listen", description = "Take request lines from a scheduler connecting to HOST:PORT (port 0: any free port) instead of stdin.")
    String listen;

    @Option(names = "--port-file", description = "With --listen: write the bound port to this file.")
    Path portFile;

    @Option(names = "--cluster-token-file", description = "The cluster's shared secret (default: $"
            + ClusterToken.ENV + "). With --listen the scheduler must answer a challenge signed with it; over M2N's"
            + " TCP transport it signs this node's hellos. Required to listen beyond loopback.")
    Path clusterTokenFile;

    /** The token of {@code --cluster-token-file}, else of the environment; null when neither is given. */
    ClusterToken clusterToken() {
        return ClusterToken.load(clusterTokenFile);
    }

    /** Serves {@code node}, which serves the checkpoint {@code model}, on the chosen channel; returns when it closes. */
    void serve(Path model, NodeServer node) {
        if (listen == null) {
            node.serve(new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)), System.out, true);
            return;
        }
        try (SchedulerConnection c = SchedulerConnection.accept(listen, portFile, clusterToken(),
                dev.tandem.transport.control.ModelFingerprint.of(model))) {
            node.serve(c.in(), c.out(), false);   // whoever connects may not make the node write files
        }
    }

    @FunctionalInterface
    interface NodeServer {
        void serve(BufferedReader in, PrintStream out, boolean filesAllowed);
    }
}
