package dev.tandem.cli;

import dev.tandem.bench.serve.ServePlots;
import dev.tandem.sim.MachineProfile;
import dev.tandem.sim.SimulatedCluster;
import dev.tandem.sim.SimulatedServe;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

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
    @picocli.CommandLine.Mixin
    SimulatedTraceOptions replay;

    @Spec
    CommandSpec spec;

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

    @Option(names = "--json", description = "Write every number, and every request, to this JSON file (past "
            + SimulatedServe.DETAIL_LIMIT + " requests a rate, the figures without the requests).")
    Path json;

    @Option(names = "--markdown", description = "Also write the markdown report to this file.")
    Path markdown;

    @Option(names = "--plot", description = "Write bench serve's PNG of the simulated run (at most "
            + SimulatedServe.DETAIL_LIMIT + " requests a rate).")
    Path plot;

    @Option(names = "--power-plot", description = "Write a PNG of each pool's power over time, a line a pool and rate.")
    Path powerPlot;

    @Override
    public Integer call() throws IOException {
        if (rate != null && rates != null) {
            throw new IllegalArgumentException("give --rate or --rates, not both");
        }
        double[] sweep = rates != null ? rates.stream().mapToDouble(Double::doubleValue).toArray()
                : new double[] {rate != null ? rate : Double.NaN};
        dev.tandem.bench.serve.Trace trace = replay.load();
        double duration = replay.durationSeconds(600);
        for (double r : sweep) { // refused before a long run rather than after it
            long requests = Math.round((Double.isNaN(r) ? trace.meanRate() : r) * duration);
            if (plot != null && requests > SimulatedServe.DETAIL_LIMIT) {
                throw new IllegalArgumentException("--plot draws every request, and a rate of " + requests
                        + " requests keeps only a tally past " + SimulatedServe.DETAIL_LIMIT + ": shorten --duration"
                        + " or leave out --plot");
            }
        }
        SimulatedServe.Run run = SimulatedServe.run(trace, sweep, duration, replay.offset,
                replay.limits(), SimulatedCluster.load(cluster), MachineProfile.load(profile), replay.baselineRequests,
                line -> spec.commandLine().getErr().println("simulate: " + line));
        String table = run.report().markdown() + "\n" + run.usageMarkdown();
        spec.commandLine().getOut().print(table);
        spec.commandLine().getOut().flush();
        if (markdown != null) {
            Files.writeString(markdown, table);
        }
        if (json != null) {
            run.report().writeJson(json);
        }
        if (plot != null) {
            ServePlots.write(plot, run.report());
            spec.commandLine().getErr().println("simulate: wrote " + plot);
        }
        if (powerPlot != null) {
            writePowerPlot(run);
            spec.commandLine().getErr().println("simulate: wrote " + powerPlot);
        }
        return 0;
    }

    private void writePowerPlot(SimulatedServe.Run run) {
        dev.tandem.bench.plot.LinePlot chart = new dev.tandem.bench.plot.LinePlot("Power by pool, simulated",
                "seconds", "kW");
        int color = 0;
        for (SimulatedServe.Usage u : run.usage()) {
            String rate = dev.tandem.bench.serve.ServeReport.rate(u.rate()) + "/s";
            for (var pool : List.of(java.util.Map.entry("prompt", u.prompt()), java.util.Map.entry("token", u.token()))) {
                double[] watts = pool.getValue().powerW();
                if (pool.getValue().machines() == 0 || watts.length == 0) {
                    continue;
                }
                double[] seconds = new double[watts.length];
                double[] kw = new double[watts.length];
                for (int i = 0; i < watts.length; i++) {
                    seconds[i] = (i + 0.5) * dev.tandem.sim.ClusterSimulation.POWER_BIN_MS / 1e3;
                    kw[i] = watts[i] / 1e3;
                }
                chart.series(pool.getKey() + ", " + rate, dev.tandem.bench.plot.LinePlot.paletteColor(color++), seconds, kw);
            }
        }
        dev.tandem.bench.plot.LinePlot.writePng(powerPlot, List.of(chart), 1, 900, 420);
    }
}
