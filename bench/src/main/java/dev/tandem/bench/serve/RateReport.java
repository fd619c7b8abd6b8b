package dev.tandem.bench.serve;

import com.fasterxml.jackson.annotation.JsonIgnore;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The result of replaying at one rate.
 *
 * @param rate                 target requests/s
 * @param requests             requests sent
 * @param completed            requests that streamed to {@code [DONE]}
 * @param wallSeconds          replay start → last completion, but at least the planned duration of arrivals, s
 * @param requestsPerSecond    completed / wallSeconds
 * @param outputTokensPerSecond output tokens of completed requests / wallSeconds
 * @param maxSendLagMs         the latest any request was sent after its scheduled time, ms
 * @param ttftMs               latency percentiles of completed requests, ms
 * @param errors               failed requests by kind ({@code http_429}, {@code http_503}, {@code http_<status>},
 *                             {@code transport}, {@code malformed_stream}, {@code timeout})
 * @param errorSamples         the first message seen of each kind
 * @param slo                  the nine Splitwise checks; failed requests count as +∞ slowdowns
 */
public record RateReport(double rate, int requests, int completed, double wallSeconds, double requestsPerSecond,
                         double outputTokensPerSecond, double maxSendLagMs, Latency ttftMs, Latency tbtMs, Latency e2eMs,
                         Map<String, Integer> errors, Map<String, String> errorSamples, List<SloCheck> slo,
                         boolean sloPass, @JsonIgnore List<RequestOutcome> outcomes, @JsonIgnore Slowdowns slowdowns) {
    /** P50/P90/P99, ms. */
    public record Latency(double p50, double p90, double p99) {
        static Latency of(double[] values) {
            double[] sorted = values.clone();
            Arrays.sort(sorted);
            return new Latency(Percentiles.ofSorted(sorted, 0.5), Percentiles.ofSorted(sorted, 0.9),
                    Percentiles.ofSorted(sorted, 0.99));
        }

        static Latency of(org.HdrHistogram.DoubleHistogram h) {
            return new Latency(OutcomeTally.percentile(h, 0, 0.5), OutcomeTally.percentile(h, 0, 0.9),
                    OutcomeTally.percentile(h, 0, 0.99));
        }
    }

    /** Per-request TTFT and E2E slowdowns (plan order) and per-token TBT slowdowns; +∞ for failures. */
    public record Slowdowns(double[] ttft, double[] tbt, double[] e2e) {
    }

    /** @param durationSeconds the planned span of arrivals: throughput is never taken over less */
    public static RateReport of(double rate, double durationSeconds, List<RequestOutcome> outcomes,
                                UnloadedBaseline baseline) {
        List<RequestOutcome> ok = outcomes.stream().filter(RequestOutcome::ok).toList();
        double wallMs = Math.max(durationSeconds * 1e3, ok.stream().mapToDouble(o -> o.sentAtMs() + o.e2eMs()).max().orElse(0));
        long outputTokens = ok.stream().mapToLong(RequestOutcome::outputTokens).sum();
        Map<String, Integer> errors = new TreeMap<>();
        Map<String, String> samples = new TreeMap<>();
        for (RequestOutcome o : outcomes) {
            if (!o.ok()) {
                errors.merge(o.error(), 1, Integer::sum);
                samples.putIfAbsent(o.error(), o.errorMessage());
            }
        }
        double maxLagMs = outcomes.stream().mapToDouble(o -> o.sentAtMs() - o.request().sendAtSeconds() * 1e3).max().orElse(0);
        Slowdowns slowdowns = slowdowns(outcomes, baseline);
        List<SloCheck> slo = SloAttainment.evaluate(slowdowns.ttft(), slowdowns.tbt(), slowdowns.e2e());
        return new RateReport(rate, outcomes.size(), ok.size(), wallMs / 1e3, ok.size() / (wallMs / 1e3),
                outputTokens / (wallMs / 1e3), maxLagMs,
                Latency.of(ok.stream().mapToDouble(RequestOutcome::ttftMs).toArray()),
                Latency.of(ok.stream().flatMapToDouble(o -> Arrays.stream(o.tbtMs())).toArray()),
                Latency.of(ok.stream().mapToDouble(RequestOutcome::e2eMs).toArray()),
                errors, samples, slo, SloAttainment.allPass(slo), outcomes, slowdowns);
    }

    /**
     * The same figures from a tally (percentiles within {@link OutcomeTally}'s precision); it keeps no
     * requests, so {@link #outcomes} is empty and {@link #slowdowns} null: {@link #detailed} says which.
     */
    public static RateReport of(double rate, double durationSeconds, OutcomeTally t) {
        double wallMs = Math.max(durationSeconds * 1e3, t.lastEndMs);
        long failures = t.failures();
        List<SloCheck> slo = SloAttainment.evaluate(q -> OutcomeTally.percentile(t.ttftSlowdown, failures, q),
                q -> OutcomeTally.percentile(t.tbtMs, failures, q) * t.tbtSlowdownScale(),
                q -> OutcomeTally.percentile(t.e2eSlowdown, failures, q));
        return new RateReport(rate, t.requests, t.completed, wallMs / 1e3, t.completed / (wallMs / 1e3),
                t.outputTokens / (wallMs / 1e3), t.maxSendLagMs, Latency.of(t.ttftMs), Latency.of(t.tbtMs),
                Latency.of(t.e2eMs), new TreeMap<>(t.errors), new TreeMap<>(t.errorSamples), slo,
                SloAttainment.allPass(slo), List.of(), null);
    }

    /** Whether every request is kept ({@link #outcomes}, {@link #slowdowns}); false for a report from a tally. */
    @JsonIgnore
    public boolean detailed() {
        return slowdowns != null;
    }

    static Slowdowns slowdowns(List<RequestOutcome> outcomes, UnloadedBaseline baseline) {
        double[] ttft = new double[outcomes.size()];
        double[] e2e = new double[outcomes.size()];
        int gaps = outcomes.stream().mapToInt(o -> o.ok() ? o.tbtMs().length : 1).sum();
        double[] tbt = new double[gaps];
        int g = 0;
        for (int i = 0; i < outcomes.size(); i++) {
            RequestOutcome o = outcomes.get(i);
            if (!o.ok()) {
                ttft[i] = e2e[i] = tbt[g++] = Double.POSITIVE_INFINITY;
                continue;
            }
            int prompt = o.request().promptTokens();
            ttft[i] = o.ttftMs() / baseline.predictedTtftMs(prompt);
            e2e[i] = o.e2eMs() / baseline.predictedE2eMs(prompt, o.outputTokens());
            for (double gap : o.tbtMs()) {
                tbt[g++] = gap / baseline.tbtMs();
            }
        }
        return new Slowdowns(ttft, tbt, e2e);
    }

    /** Slowdown percentiles of one metric, in {@link SloAttainment#PERCENTILES} order. */
    public double[] slowdownPercentiles(String metric) {
        return slo.stream().filter(c -> c.metric().equals(metric)).mapToDouble(SloCheck::slowdown).toArray();
    }
}
