package dev.tandem.bench.serve;

import dev.tandem.bench.plot.LinePlot;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The {@code --plot} PNG. One rate: CDFs of the TTFT, TBT and E2E slowdowns, and TTFT and TBT over the replay.
 * A sweep: each metric's worst slowdown-to-limit ratio against rate (≤ 1 meets the SLOs), throughput and P99
 * latencies against rate, and the E2E slowdown CDF of every rate.
 */
public final class ServePlots {
    private static final int CDF_POINTS = 200;
    private static final int TIME_BINS = 40;
    /** Around Splitwise's limits (1.25× to 6×). */
    private static final double[] SLOWDOWN_TICKS = {0.5, 1, 2, 5, 10};

    private ServePlots() {
    }

    public static void write(Path file, ServeReport report) {
        if (!report.rates().stream().allMatch(RateReport::detailed)) {
            throw new IllegalArgumentException("the plot needs every request, and this report kept only a tally of"
                    + " them (a run too large to keep each request)");
        }
        List<LinePlot> plots = report.rates().size() > 1 ? sweep(report) : single(report.rates().getFirst());
        LinePlot.writePng(file, plots, 2, 640, 420);
    }

    private static List<LinePlot> single(RateReport r) {
        LinePlot cdf = new LinePlot("Slowdown CDF at " + ServeReport.rate(r.rate()) + " req/s",
                "slowdown (measured / unloaded)", "fraction of requests (TBT: of tokens)").logX(true).xTicks(SLOWDOWN_TICKS);
        cdf.series("TTFT", cdfX(r.slowdowns().ttft()), cdfY(r.slowdowns().ttft()));
        cdf.series("TBT", cdfX(r.slowdowns().tbt()), cdfY(r.slowdowns().tbt()));
        cdf.series("E2E", cdfX(r.slowdowns().e2e()), cdfY(r.slowdowns().e2e()));
        List<RequestOutcome> ok = r.outcomes().stream().filter(RequestOutcome::ok).toList();
        double[] sent = ok.stream().mapToDouble(o -> o.sentAtMs() / 1e3).toArray();
        LinePlot ttft = overTime("TTFT over the replay", sent, ok.stream().mapToDouble(RequestOutcome::ttftMs).toArray());
        LinePlot tbt = overTime("Mean TBT per request over the replay", sent,
                ok.stream().mapToDouble(RequestOutcome::meanTbtMs).toArray());
        return List.of(cdf, ttft, tbt);
    }

    private static List<LinePlot> sweep(ServeReport report) {
        List<RateReport> rates = report.rates();
        double[] x = rates.stream().mapToDouble(RateReport::rate).toArray();
        LinePlot headroom = new LinePlot("SLO attainment: worst slowdown / limit (≤ 1 meets)", "rate (req/s)",
                "max over P50/P90/P99").logY(true);
        for (String metric : List.of("TTFT", "TBT", "E2E")) {
            headroom.series(metric, x, rates.stream().mapToDouble(r -> r.slo().stream()
                    .filter(c -> c.metric().equals(metric))
                    .mapToDouble(c -> c.slowdown() / c.limit()).max().orElse(Double.NaN)).toArray());
        }
        headroom.series("limit", java.awt.Color.BLACK, x, repeat(1, x.length));
        LinePlot throughput = new LinePlot("Throughput", "rate (req/s)", "output tokens/s")
                .series("output tok/s", x, rates.stream().mapToDouble(RateReport::outputTokensPerSecond).toArray());
        LinePlot latency = new LinePlot("P99 latency", "rate (req/s)", "ms").logY(true)
                .series("TTFT P99", x, rates.stream().mapToDouble(r -> r.ttftMs().p99()).toArray())
                .series("E2E P99", x, rates.stream().mapToDouble(r -> r.e2eMs().p99()).toArray())
                .series("TBT P99", x, rates.stream().mapToDouble(r -> r.tbtMs().p99()).toArray());
        LinePlot cdf = new LinePlot("E2E slowdown CDF", "slowdown", "fraction of requests").logX(true)
                .xTicks(SLOWDOWN_TICKS);
        for (RateReport r : rates) {
            cdf.series(ServeReport.rate(r.rate()) + " req/s", cdfX(r.slowdowns().e2e()),
                    cdfY(r.slowdowns().e2e()));
        }
        return List.of(headroom, throughput, latency, cdf);
    }

    /** P50 and P99 of {@code values} in equal time bins over the replay. */
    private static LinePlot overTime(String title, double[] seconds, double[] values) {
        double end = Arrays.stream(seconds).max().orElse(0) + 1e-9;
        int bins = Math.max(1, Math.min(TIME_BINS, seconds.length / 4));
        List<double[]> perBin = new ArrayList<>();
        for (int b = 0; b < bins; b++) {
            double lo = end * b / bins;
            double hi = end * (b + 1) / bins;
            perBin.add(java.util.stream.IntStream.range(0, seconds.length)
                    .filter(i -> seconds[i] >= lo && seconds[i] < hi && Double.isFinite(values[i]))
                    .mapToDouble(i -> values[i]).toArray());
        }
        double[] x = java.util.stream.IntStream.range(0, bins).mapToDouble(b -> end * (b + 0.5) / bins).toArray();
        return new LinePlot(title, "send time (s)", "ms")
                .series("P50", x, perBin.stream().mapToDouble(v -> Percentiles.of(v, 0.5)).toArray())
                .series("P99", x, perBin.stream().mapToDouble(v -> Percentiles.of(v, 0.99)).toArray());
    }

    private static double[] cdfX(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int points = Math.min(CDF_POINTS, sorted.length);
        double[] x = new double[points];
        for (int j = 0; j < points; j++) {
            x[j] = sorted[cdfIndex(j, points, sorted.length)];
        }
        return x;
    }

    private static double[] cdfY(double[] values) {
        int points = Math.min(CDF_POINTS, values.length);
        double[] y = new double[points];
        for (int j = 0; j < points; j++) {
            y[j] = (cdfIndex(j, points, values.length) + 1.0) / values.length;
        }
        return y;
    }

    private static int cdfIndex(int point, int points, int n) {
        return points == 1 ? n - 1 : (int) Math.round(point * (n - 1.0) / (points - 1));
    }

    private static double[] repeat(double value, int n) {
        double[] a = new double[n];
        Arrays.fill(a, value);
        return a;
    }
}
