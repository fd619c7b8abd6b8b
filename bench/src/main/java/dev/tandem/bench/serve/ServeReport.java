package dev.tandem.bench.serve;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.bench.JsonFiles;

import java.math.BigDecimal;
import java.math.MathContext;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** A whole {@code bench serve} run: the server, the baseline and one {@link RateReport} per rate. */
public record ServeReport(String url, String trace, String model, int maxModelLen, int vocabSize, double durationSeconds,
                          double offsetSeconds, LengthLimits limits, UnloadedBaseline baseline,
                          Map<String, Double> goodput, List<RateReport> rates) {
    /** @return the highest rate whose replay met all nine SLOs, NaN if none did */
    public double bestRate() {
        return rates.stream().filter(RateReport::sloPass).mapToDouble(RateReport::rate).max().orElse(Double.NaN);
    }

    public String markdown() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "Server %s, model %s (max_model_len %d, vocab %d); trace %s from %.0f s,"
                        + " %.0f s of arrivals per rate%n", url, model, maxModelLen, vocabSize, trace, offsetSeconds,
                durationSeconds));
        sb.append(String.format(Locale.ROOT, "Unloaded baseline (%d requests one at a time): TTFT = %.2f ms %+.4f ms"
                        + " × prompt tokens, TBT = %.2f ms%n%n", baseline.samples().size(), baseline.ttftInterceptMs(),
                baseline.ttftPerTokenMs(), baseline.tbtMs()));
        sb.append("| rate req/s | sent | completed | errors | done req/s | output tok/s | TTFT P50/P90/P99 ms"
                + " | TBT P50/P90/P99 ms | E2E P50/P90/P99 ms | SLOs |\n");
        sb.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for (RateReport r : rates) {
            sb.append(String.format(Locale.ROOT, "| %s | %d | %d | %d | %.2f | %.1f | %s | %s | %s | %s |%n", rate(r.rate()),
                    r.requests(), r.completed(), r.requests() - r.completed(), r.requestsPerSecond(),
                    r.outputTokensPerSecond(), triple(r.ttftMs()), triple(r.tbtMs()), triple(r.e2eMs()),
                    r.sloPass() ? "met" : "missed"));
        }
        sb.append("\nSlowdown percentiles (measured / unloaded) against Splitwise's limits:\n\n| rate req/s |");
        List<SloCheck> header = rates.getFirst().slo();
        for (SloCheck c : header) {
            sb.append(String.format(Locale.ROOT, " %s P%.0f ≤ %s |", c.metric(), c.percentile() * 100, rate(c.limit())));
        }
        sb.append(" all |\n|---:|").append("---:|".repeat(header.size())).append("---|\n");
        for (RateReport r : rates) {
            sb.append("| ").append(rate(r.rate())).append(" |");
            for (SloCheck c : r.slo()) {
                sb.append(' ').append(num(c.slowdown())).append(c.pass() ? " ✓" : " ✗").append(" |");
            }
            sb.append(r.sloPass() ? " pass |\n" : " fail |\n");
        }
        errors(sb);
        double best = bestRate();
        sb.append(Double.isNaN(best) ? "\nNo rate met all SLOs.\n"
                : "\nHighest rate meeting all SLOs: " + rate(best) + " req/s\n");
        return sb.toString();
    }

    private void errors(StringBuilder sb) {
        for (RateReport r : rates) {
            if (r.errors().isEmpty()) {
                continue;
            }
            sb.append("\nErrors at ").append(rate(r.rate())).append(" req/s: ").append(String.join(", ", r.errors()
                    .entrySet().stream().map(e -> e.getKey() + " × " + e.getValue()).toList())).append('\n');
            r.errorSamples().forEach((kind, message) -> sb.append("- ").append(kind).append(": ")
                    .append(message == null ? "" : message.replace('\n', ' ')).append('\n'));
        }
    }

    /** Requests/s to 3 significant digits, without trailing zeros: 8, 2.5, 0.125. */
    public static String rate(double r) {
        return new BigDecimal(r).round(new MathContext(3)).stripTrailingZeros().toPlainString();
    }

    private static String triple(RateReport.Latency l) {
        return num(l.p50()) + " / " + num(l.p90()) + " / " + num(l.p99());
    }

    private static String num(double v) {
        if (Double.isNaN(v)) {
            return "–";
        }
        if (Double.isInfinite(v)) {
            return "∞";
        }
        return String.format(Locale.ROOT, v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : "%.2f", v);
    }

    /**
     * Everything above plus every request as {@code [sent_ms, prompt, output, ttft_ms, mean_tbt_ms, e2e_ms, error]};
     * infinities and NaN are written as strings.
     */
    public void writeJson(Path file) {
        ObjectMapper mapper = new ObjectMapper();
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("url", url);
        root.put("trace", trace);
        root.put("model", model);
        root.put("max_model_len", maxModelLen);
        root.put("vocab_size", vocabSize);
        root.put("duration_s", durationSeconds);
        root.put("offset_s", offsetSeconds);
        root.put("limits", limits);
        root.put("baseline", baseline);
        List<Object> rateRows = new ArrayList<>();
        for (RateReport r : rates) {
            @SuppressWarnings("unchecked")
            Map<String, Object> row = mapper.convertValue(r, LinkedHashMap.class);
            if (!r.detailed()) { // a tally keeps no requests: their figures and vllm's are not there
                rateRows.add(row);
                continue;
            }
            row.put("vllm", VllmFigures.of(r, goodput));   // vllm bench serve's keys
            row.put("requests_detail", r.outcomes().stream().map(o -> List.of(o.sentAtMs(),
                    o.request().promptTokens(), o.request().outputTokens(), o.ttftMs(), o.meanTbtMs(), o.e2eMs(),
                    o.error() == null ? "" : o.error())).toList());
            rateRows.add(row);
        }
        root.put("rates", rateRows);
        root.put("best_rate", bestRate());
        JsonFiles.write(file, root);
    }
}
