package dev.tandem.cli;

import dev.tandem.bench.serve.LengthLimits;
import dev.tandem.bench.serve.ServePlots;
import dev.tandem.bench.serve.Trace;
import dev.tandem.sim.MachineProfile;
import dev.tandem.sim.SimulatedCluster;
import dev.tandem.sim.SimulatedServe;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code tandem simulate}: a trace replayed against a Splitwise cluster on a virtual clock, with the
 * live scheduler's routing and admission, machines timed by a profile; the report of
 * {@code bench serve}, plus each pool's utilization, energy and cost.
 */
@Command(name = "simulate", mixinStandardHelpOptions = true,
        description = "Replay a trace against a simulated Splitwise cluster (the live routing, machines timed by a"
                + " profile) and print bench serve's report, with utilization, energy and cost per rate.")
final class SimulateCommand implements Callable<Integer> {
    @Option(names = "--trace", defaultValue = "conv", description = "code, conv (the bundled Azure traces) or a CSV"
            + " file of the same form (default ${DEFAULT-VALUE}).")
    String trace;

    @Option(names = "--cluster", required = true, description = "The machines: tandem scheduler's config file, or"
            + " just its prompt.nodes, token.nodes, prompt.kv_tokens, token.kv_tokens, mixed_threshold_tokens (and"
            + " max_queued) keys.")
    Path cluster;

    @Option(names = "--profile", required = true, description = "What a machine's steps take, draw and cost"
            + " (properties; see bench/profiles/).")
    Path profile;

    @Option(names = "--rate", description = "Requests/s, the trace's arrival pattern rescaled to it (default: the trace's own rate).")
    Double rate;

    @Option(names = "--rates", split = ",", description = "Sweep these rates (requests/s), comma-separated.")
    List<Double> rates;

    @Option(names = "--duration", defaultValue = "600", description = "Seconds of arrivals per rate (default ${DEFAULT-VALUE}).")
    double duration;

    @Option(names = "--offset", defaultValue = "0", description = "Seconds into the trace where the replay starts; it wraps.")
    double offset;

    @Option(names = "--context", defaultValue = "0", description = "The model's context: requests past it are"
            + " scaled down with --scale-to-context, else kept (0: no limit).")
    int context;

    @Option(names = "--scale-to-context", description = "Scale a request's prompt and output down together past --context.")
    boolean scaleToContext;

    @Option(names = "--max-prompt", defaultValue = "0", description = "Clip prompts to this many tokens.")
    int maxPrompt;

    @Option(names = "--max-output", defaultValue = "0", description = "Clip outputs to this many tokens.")
    int maxOutput;

    @Option(names = "--baseline-requests", defaultValue = "8", description = "Requests run alone for the unloaded"
            + " baseline that slowdowns are relative to (default ${DEFAULT-VALUE}).")
    int baselineRequests;

    @Option(names = "--json", description = "Write every number, and every request, to this JSON file.")
    Path json;

    @Option(names = "--markdown", description = "Also write the markdown report to this file.")
    Path markdown;

    @Option(names = "--plot", description = "Write bench serve's PNG of the simulated run.")
    Path plot;

    @Override
    public Integer call() throws IOException {
        if (duration <= 0) {
            throw new IllegalArgumentException("--duration must be above 0 s");
        }
        if (rate != null && rates != null) {
            throw new IllegalArgumentException("give --rate or --rates, not both");
        }
        double[] sweep = rates != null ? rates.stream().mapToDouble(Double::doubleValue).toArray()
                : new double[] {rate != null ? rate : Double.NaN};
        SimulatedServe.Run run = SimulatedServe.run(Trace.load(trace), sweep, duration, offset,
                new LengthLimits(context, maxPrompt, maxOutput, scaleToContext), SimulatedCluster.load(cluster),
                MachineProfile.load(profile), baselineRequests, line -> System.err.println("simulate: " + line));
        String table = run.report().markdown() + "\n" + run.usageMarkdown();
        System.out.print(table);
        System.out.flush();
        if (markdown != null) {
            Files.writeString(markdown, table);
        }
        if (json != null) {
            run.report().writeJson(json);
        }
        if (plot != null) {
            ServePlots.write(plot, run.report());
            System.err.println("simulate: wrote " + plot);
        }
        return 0;
    }
}
