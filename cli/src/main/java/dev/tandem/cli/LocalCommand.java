package dev.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;

/**
 * {@code tandem local}: a disaggregated cluster on this host, one OS process per node. Reads
 * request lines from stdin (the attention node protocol: {"input_ids":[…],"max_tokens":…}),
 * spreads them over the attention nodes, prints each result line (with the request's own id),
 * and stops everything when stdin closes.
 */
@Command(name = "local", mixinStandardHelpOptions = true,
        description = "Run a local cluster (attention and expert nodes as separate processes); JSON request lines on stdin.")
final class LocalCommand implements Callable<Integer> {
    @Mixin
    ClusterOptions cluster;

    @Override
    public Integer call() throws IOException {
        ObjectMapper json = new ObjectMapper();
        try (LocalCluster local = cluster.start()) {
            System.err.printf("tandem: local cluster up: %d attention, %d expert nodes, m=%d; reading requests on stdin%n",
                    cluster.attentionNodes, cluster.expertNodes, cluster.microBatches());
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            List<CompletableFuture<Void>> inFlight = new ArrayList<>();
            int next = 0;
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                if (line.isBlank()) {
                    continue;
                }
                JsonNode request = json.readTree(line);
                JsonNode userId = request.get("id");
                ObjectNode copy = request.deepCopy();
                int node = next++ % local.attentionNodes();
                inFlight.add(local.submit(node, copy).handle((result, error) -> {
                    ObjectNode out = error == null ? result.deepCopy() : json.createObjectNode().put("error", error.getMessage());
                    if (userId != null) {
                        out.set("id", userId);
                    } else {
                        out.remove("id");
                    }
                    synchronized (System.out) {
                        System.out.println(out);
                        System.out.flush();
                    }
                    return null;
                }));
            }
            CompletableFuture.allOf(inFlight.toArray(CompletableFuture[]::new)).join();
            for (int i = 0; i < local.attentionNodes(); i++) {
                System.err.println("tandem: " + local.stats(i).join().get("stats"));
            }
        }
        return 0;
    }
}
