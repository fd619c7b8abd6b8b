package dev.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

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
        description = "Run a local cluster, every node its own process: with --prompt-nodes/--token-groups, Splitwise "
                + "pools behind the OpenAI-compatible HTTP API; otherwise one AFD group reading JSON request lines on stdin.")
final class LocalCommand implements Callable<Integer> {
    @Mixin
    ClusterOptions cluster;

    @Mixin
    HttpServing http;

    @Option(names = "--prompt-nodes", defaultValue = "0",
            description = "Splitwise prompt machines (colocated processes that prefill and stream KV to token machines); with --token-groups, serves the HTTP API.")
    int promptNodes;

    @Option(names = "--token-groups", defaultValue = "0",
            description = "Splitwise token groups, each --attention-nodes attention nodes (token machines) and --expert-nodes expert nodes.")
    int tokenGroups;

    @Option(names = "--mixed-threshold-tokens", defaultValue = "4096",
            description = "Pending prompt tokens past which machines are lent to the mixed pool (default ${DEFAULT-VALUE}).")
    long mixedThresholdTokens;

    @Override
    public Integer call() throws Exception {
        if (promptNodes > 0 || tokenGroups > 0) {
            return serve();
        }
        return readRequestLines();
    }

    /** Splitwise pools as separate processes behind the HTTP API, until SIGINT/SIGTERM. */
    private int serve() throws Exception {
        var codec = http.textCodec(cluster.model);
        String wire = cluster.wireDtype();
        cluster.placement.check();
        int m = tokenGroups > 0 ? cluster.microBatches() : 1;
        ServingCluster serving = new ServingCluster(new ServingCluster.Options(cluster.model, http.name(cluster.model),
                promptNodes, tokenGroups, cluster.attentionNodes, cluster.expertNodes, m, cluster.threads,
                cluster.maxBatchTokens, cluster.kvTokens, mixedThresholdTokens, http.maxQueued, cluster.device.device,
                cluster.device.dtype, wire, cluster.placement, cluster.transport()));
        http.run(serving.engine(), serving, codec, promptNodes + " prompt machines, " + tokenGroups + " token groups of "
                + cluster.attentionNodes + " attention + " + cluster.expertNodes + " expert nodes, m=" + m);
        return 0;
    }

    private int readRequestLines() throws IOException {
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
