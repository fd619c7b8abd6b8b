package dev.tandem.bench.serve;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One rate's figures as {@code vllm bench serve} names them in its JSON: throughputs, and the mean,
 * median, standard deviation and P99 of TTFT, TPOT (a request's time per output token after the
 * first), ITL (each gap between tokens) and E2E latency, in ms; {@code request_goodput} counts the
 * completed requests per second that meet every {@code --goodput} bound (null without bounds).
 */
final class VllmFigures {
    private VllmFigures() {
    }

    /** @param goodput bounds in ms by "ttft", "tpot" and "e2el"; empty for none */
    static Map<String, Object> of(RateReport r, Map<String, Double> goodput) {
        List<RequestOutcome> ok = r.outcomes().stream().filter(RequestOutcome::ok).toList();
        Map<String, Object> out = new LinkedHashMap<>();
        long input = ok.stream().mapToLong(o -> o.request().promptTokens()).sum();
        long output = ok.stream().mapToLong(RequestOutcome::outputTokens).sum();
        out.put("duration", r.wallSeconds());
        out.put("completed", ok.size());
        out.put("total_input_tokens", input);
        out.put("total_output_tokens", output);
        out.put("request_throughput", ok.size() / r.wallSeconds());
        out.put("output_throughput", output / r.wallSeconds());
        out.put("total_token_throughput", (input + output) / r.wallSeconds());
        double[] ttft = ok.stream().mapToDouble(RequestOutcome::ttftMs).toArray();
        double[] tpot = ok.stream().filter(o -> o.outputTokens() > 1).mapToDouble(VllmFigures::tpotMs).toArray();
        double[] itl = ok.stream().flatMapToDouble(o -> Arrays.stream(o.tbtMs())).toArray();
        double[] e2el = ok.stream().mapToDouble(RequestOutcome::e2eMs).toArray();
        stats(out, "ttft", ttft);
        stats(out, "tpot", tpot);
        stats(out, "itl", itl);
        stats(out, "e2el", e2el);
        if (goodput.isEmpty()) {
            out.put("request_goodput", null);
        } else {
            long good = ok.stream().filter(o -> within(goodput, "ttft", o.ttftMs())
                    && within(goodput, "tpot", o.outputTokens() > 1 ? tpotMs(o) : 0)
                    && within(goodput, "e2el", o.e2eMs())).count();
            out.put("request_goodput", good / r.wallSeconds());
        }
        return out;
    }

    static double tpotMs(RequestOutcome o) {
        return (o.e2eMs() - o.ttftMs()) / (o.outputTokens() - 1);
    }

    private static boolean within(Map<String, Double> bounds, String key, double valueMs) {
        Double bound = bounds.get(key);
        return bound == null || valueMs <= bound;
    }

    private static void stats(Map<String, Object> out, String name, double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        double mean = Arrays.stream(sorted).average().orElse(0);
        double variance = Arrays.stream(sorted).map(v -> (v - mean) * (v - mean)).average().orElse(0);
        out.put("mean_" + name + "_ms", mean);
        out.put("median_" + name + "_ms", sorted.length == 0 ? 0 : Percentiles.ofSorted(sorted, 0.5));
        out.put("std_" + name + "_ms", Math.sqrt(variance));
        out.put("p99_" + name + "_ms", sorted.length == 0 ? 0 : Percentiles.ofSorted(sorted, 0.99));
    }
}
