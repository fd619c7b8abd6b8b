package dev.tandem.sim;

import dev.tandem.bench.serve.LengthLimits;
import dev.tandem.bench.serve.OutcomeTally;
import dev.tandem.bench.serve.PlannedRequest;
import dev.tandem.bench.serve.RateReport;
import dev.tandem.bench.serve.ReplayPlan;
import dev.tandem.bench.serve.RequestOutcome;
import dev.tandem.bench.serve.ServeBenchmark;
import dev.tandem.bench.serve.ServeReport;
import dev.tandem.bench.serve.Trace;
import dev.tandem.bench.serve.UnloadedBaseline;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * {@code bench serve} on a virtual clock: the same replay plans of a trace (rates scaled as it
 * scales them), the same unloaded baseline (its sample run alone, one request at a time), and the
 * same report, from a {@link ClusterSimulation} of each rate instead of a live server. Adds each
 * pool's utilization, energy and cost.
 */
public final class SimulatedServe {
    /** What each pool did at one rate. */
    public record Usage(double rate, double wallMs, ClusterSimulation.PoolUsage prompt,
                        ClusterSimulation.PoolUsage token) {
        public double energyJ() {
            return prompt.energyJ() + token.energyJ();
        }

        public double cost() {
            return prompt.cost() + token.cost();
        }

        /** The cluster's highest mean draw over a power sample, W. */
        public double peakWatts() {
            double[] p = prompt.powerW();
            double[] t = token.powerW();
            double peak = 0;
            for (int i = 0; i < Math.max(p.length, t.length); i++) {
                peak = Math.max(peak, (i < p.length ? p[i] : 0) + (i < t.length ? t[i] : 0));
            }
            return peak;
        }
    }

    public record Run(ServeReport report, List<Usage> usage) {
        /** Utilization, energy and cost per rate, as a markdown table. */
        public String usageMarkdown() {
            StringBuilder sb = new StringBuilder("| rate/s | simulated s | prompt util | token util | energy kJ | mean kW"
                    + " | peak kW | prompt capped | token capped | cost $ |\n");
            sb.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
            for (Usage u : usage) {
                sb.append(String.format(Locale.ROOT, "| %s | %.1f | %.2f | %.2f | %.1f | %.2f | %.2f | %.2f | %.2f | %.2f |%n",
                        ServeReport.rate(u.rate()), u.wallMs() / 1e3, u.prompt().utilization(u.wallMs()),
                        u.token().utilization(u.wallMs()), u.energyJ() / 1e3,
                        u.wallMs() > 0 ? u.energyJ() / u.wallMs() : 0, u.peakWatts() / 1e3, u.prompt().cappedShare(),
                        u.token().cappedShare(), u.cost()));
            }
            return sb.toString();
        }
    }

    /**
     * Past this many requests a rate keeps a tally (histograms, {@link OutcomeTally}) instead of every request's
     * outcome: a simulated hour of a large cluster is tens of millions of them. Plots need every request.
     */
    public static final int DETAIL_LIMIT = 1_000_000;

    private SimulatedServe() {
    }

    /**
     * @param rates requests/s, NaN for the trace's own rate
     * @param log   one line per rate
     */
    public static Run run(Trace trace, double[] rates, double durationSeconds, double offsetSeconds,
                          LengthLimits limits, SimulatedCluster cluster, MachineProfile profile, int baselineRequests,
                          Consumer<String> log) {
        return run(trace, rates, durationSeconds, offsetSeconds, limits, cluster, profile, profile, baselineRequests, log);
    }

    /** As above, prompt machines timed by {@code promptProfile} and token machines by {@code tokenProfile}. */
    public static Run run(Trace trace, double[] rates, double durationSeconds, double offsetSeconds,
                          LengthLimits limits, SimulatedCluster cluster, MachineProfile promptProfile,
                          MachineProfile tokenProfile, int baselineRequests, Consumer<String> log) {
        List<List<PlannedRequest>> plans = new ArrayList<>();
        for (double rate : rates) {
            plans.add(ReplayPlan.plan(trace, rate, durationSeconds, offsetSeconds, limits));
        }
        List<RequestOutcome> alone = new ArrayList<>();
        for (PlannedRequest r : ServeBenchmark.baselineSample(trace, durationSeconds, offsetSeconds, limits,
                baselineRequests)) {
            alone.add(new ClusterSimulation(cluster, promptProfile, tokenProfile).run(List.of(r)).outcomes().getFirst());
        }
        UnloadedBaseline baseline = UnloadedBaseline.fit(alone);
        List<RateReport> reports = new ArrayList<>();
        List<Usage> usage = new ArrayList<>();
        for (int i = 0; i < plans.size(); i++) {
            double rate = Double.isNaN(rates[i]) ? trace.meanRate() : rates[i];
            long start = System.nanoTime();
            String label = "rate " + ServeReport.rate(rate) + "/s: ";
            ClusterSimulation simulation = new ClusterSimulation(cluster, promptProfile, tokenProfile)
                    .progress(line -> log.accept(label + line), 5);
            ClusterSimulation.Result result;
            RateReport report;
            if (plans.get(i).size() > DETAIL_LIMIT) {
                OutcomeTally tally = new OutcomeTally(baseline);
                result = simulation.run(plans.get(i), tally);
                report = RateReport.of(rate, durationSeconds, tally);
            } else {
                result = simulation.run(plans.get(i));
                report = RateReport.of(rate, durationSeconds, result.outcomes(), baseline);
            }
            reports.add(report);
            usage.add(new Usage(rate, result.wallMs(), result.prompt(), result.token()));
            log.accept(String.format(Locale.ROOT, "rate %s/s: %d requests, %d completed, %.1f output tok/s, SLOs %s"
                            + " (simulated %.0f s in %.2f s)", ServeReport.rate(rate), report.requests(),
                    report.completed(), report.outputTokensPerSecond(), report.sloPass() ? "met" : "missed",
                    result.wallMs() / 1e3, (System.nanoTime() - start) / 1e9));
        }
        ServeReport report = new ServeReport("simulated: " + cluster.promptMachines() + " prompt + "
                + cluster.tokenMachines() + " token machines", trace.name(), promptProfile.name().equals(tokenProfile.name())
                ? promptProfile.name() : promptProfile.name() + " + " + tokenProfile.name(), limits.contextLength(), 0,
                durationSeconds, offsetSeconds, limits, baseline, Map.of(), reports);
        return new Run(report, usage);
    }
}
