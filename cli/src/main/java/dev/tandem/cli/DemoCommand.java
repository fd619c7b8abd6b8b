package dev.tandem.cli;

import dev.tandem.bench.serve.ServeBenchmark;
import dev.tandem.bench.serve.ServeReport;
import dev.tandem.core.synth.SynthSpec;
import dev.tandem.core.synth.SyntheticCheckpoint;
import dev.tandem.scheduler.http.HttpApiContext;
import dev.tandem.scheduler.http.HttpApiServer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code tandem demo}: a whole disaggregated deployment on this host, end to end. Synthesizes a
 * small Mixtral-shaped checkpoint on first use, starts a Splitwise cluster (a prompt machine and
 * an AFD token group of attention and expert nodes, each its own process) behind the HTTP API,
 * replays a slice of the Azure code trace against it open loop, prints the report (throughput,
 * TTFT, time between tokens, end-to-end latency, SLO attainment), and stops everything.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Start a local Splitwise + AFD cluster on a synthetic Mixtral-shaped model, replay a slice of the "
                + "Azure code trace against its HTTP API, print the report, and stop everything.")
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--model", description = "Checkpoint to use (default: models/mixtral-small under the Tandem directory, synthesized if missing).")
    Path model;

    @Option(names = "--trace", defaultValue = "code", description = "code, conv, or a CSV file (default ${DEFAULT-VALUE}).")
    String trace;

    @Option(names = "--rate", defaultValue = "0.5", description = "Requests/s (default ${DEFAULT-VALUE}).")
    double rate;

    @Option(names = "--duration", defaultValue = "20", description = "Seconds of arrivals (default ${DEFAULT-VALUE}).")
    double duration;

    @Option(names = "--max-prompt", defaultValue = "256", description = "Clip the trace's prompts to this many tokens (default ${DEFAULT-VALUE}).")
    int maxPrompt;

    @Option(names = "--max-output", defaultValue = "32", description = "Clip the trace's outputs to this many tokens (default ${DEFAULT-VALUE}).")
    int maxOutput;

    @Option(names = "--prompt-nodes", defaultValue = "1", description = "Prompt machines (default ${DEFAULT-VALUE}).")
    int promptNodes;

    @Option(names = "--token-groups", defaultValue = "1", description = "Token groups (default ${DEFAULT-VALUE}).")
    int tokenGroups;

    @Option(names = "--attention-nodes", defaultValue = "1", description = "Attention nodes per token group (default ${DEFAULT-VALUE}).")
    int attentionNodes;

    @Option(names = "--expert-nodes", defaultValue = "1", description = "Expert nodes per token group (default ${DEFAULT-VALUE}).")
    int expertNodes;

    @Option(names = "--micro-batches", defaultValue = "2", description = "m of the token groups (default ${DEFAULT-VALUE}).")
    int microBatches;

    @Option(names = "--json", description = "Also write the report's numbers to this JSON file.")
    Path json;

    @Override
    public Integer call() throws Exception {
        Path dir = model != null ? model : Path.of(System.getProperty("tandem.home", ".")).resolve("models/mixtral-small");
        if (!Files.exists(dir.resolve("config.json"))) {
            System.err.println("tandem: synthesizing a Mixtral-shaped checkpoint (preset mixtral-small) in " + dir);
            SyntheticCheckpoint.write(SynthSpec.preset("mixtral-small"), dir, 42, 4_000_000_000L,
                    line -> System.err.println("tandem: " + line));
        }
        System.err.printf("tandem: starting %d prompt machine(s) and %d token group(s) of %d attention + %d expert"
                + " nodes (m=%d), each node its own process%n", promptNodes, tokenGroups, attentionNodes, expertNodes,
                microBatches);
        try (ServingCluster cluster = new ServingCluster(new ServingCluster.Options(dir, "demo", promptNodes, tokenGroups,
                attentionNodes, expertNodes, microBatches, 1, 256, 16384, 4096, 1024));
             HttpApiServer server = HttpApiServer.start(HttpApiContext.of(cluster.engine(), null), "127.0.0.1", 0)) {
            String url = "http://127.0.0.1:" + server.port();
            System.err.println("tandem: HTTP API on " + url + "; replaying " + duration + " s of the " + trace
                    + " trace at " + rate + " requests/s (prompts ≤ " + maxPrompt + ", outputs ≤ " + maxOutput + " tokens)");
            ServeReport report = ServeBenchmark.run(new ServeBenchmark.Settings(URI.create(url + "/"), trace,
                    new double[] {rate}, duration, 0, null, 0, 100, 1, false, maxPrompt, maxOutput, null, null, 4, 300,
                    null, true, 0, 0, java.util.Map.of(), false),
                    System.err);
            System.out.print(report.markdown());
            if (json != null) {
                report.writeJson(json);
            }
            System.err.println("tandem: routed " + cluster.engine().routed() + "; stopping the cluster");
        }
        return 0;
    }
}
