package dev.tandem.bench.serve;

import org.HdrHistogram.DoubleHistogram;
import org.HdrHistogram.DoubleHistogramIterationValue;

import java.util.Map;
import java.util.TreeMap;

/**
 * What a run measured, kept as counts and histograms instead of one {@link RequestOutcome} a request:
 * a simulated hour of a large cluster ends tens of millions of requests and a billion tokens, more
 * than per-request arrays hold. Latencies and slowdowns go into HdrHistogram's histograms at
 * {@link #SIGNIFICANT_DIGITS} significant digits, so a percentile is the nearest-rank one within
 * 0.1 % of its value (it reads the top of the bucket: never below the exact figure). A failed
 * request counts as a +∞ slowdown, as {@link RateReport} counts it.
 * <p>
 * TBT gaps can be recorded many at a time: a simulated decode step gives every sequence of its
 * batch the same gap.
 */
public final class OutcomeTally {
    /** HdrHistogram's precision: 3 digits keep a value within 0.1 %. */
    public static final int SIGNIFICANT_DIGITS = 3;

    private final UnloadedBaseline baseline;
    final DoubleHistogram ttftMs = histogram();
    final DoubleHistogram tbtMs = histogram();
    final DoubleHistogram e2eMs = histogram();
    final DoubleHistogram ttftSlowdown = histogram();
    final DoubleHistogram e2eSlowdown = histogram();
    int requests;
    int completed;
    long outputTokens;
    double lastEndMs;
    double maxSendLagMs;
    final Map<String, Integer> errors = new TreeMap<>();
    final Map<String, String> errorSamples = new TreeMap<>();

    /** @param baseline what slowdowns are relative to */
    public OutcomeTally(UnloadedBaseline baseline) {
        this.baseline = baseline;
    }

    private static DoubleHistogram histogram() {
        return new DoubleHistogram(SIGNIFICANT_DIGITS);
    }

    /** A request that completed; its TBT gaps come through {@link #gaps}. */
    public void completed(PlannedRequest request, double sentAtMs, double ttftMs, double e2eMs, int outputTokens) {
        sent(request, sentAtMs);
        completed++;
        this.outputTokens += outputTokens;
        lastEndMs = Math.max(lastEndMs, sentAtMs + e2eMs);
        this.ttftMs.recordValue(ttftMs);
        this.e2eMs.recordValue(e2eMs);
        ttftSlowdown.recordValue(ttftMs / baseline.predictedTtftMs(request.promptTokens()));
        e2eSlowdown.recordValue(e2eMs / baseline.predictedE2eMs(request.promptTokens(), outputTokens));
    }

    /** {@code count} gaps of {@code ms} between tokens of completing requests. */
    public void gaps(double ms, long count) {
        tbtMs.recordValueWithCount(ms, count);
    }

    /** A request that failed with {@code error} (a {@link RequestOutcome} error kind). */
    public void failed(PlannedRequest request, double sentAtMs, String error, String message) {
        sent(request, sentAtMs);
        errors.merge(error, 1, Integer::sum);
        errorSamples.putIfAbsent(error, message);
    }

    private void sent(PlannedRequest request, double sentAtMs) {
        requests++;
        maxSendLagMs = Math.max(maxSendLagMs, sentAtMs - request.sendAtSeconds() * 1e3);
    }

    public int requests() {
        return requests;
    }

    int failures() {
        return requests - completed;
    }

    double tbtSlowdownScale() {
        return 1 / baseline.tbtMs();
    }

    /**
     * The nearest-rank {@code q} percentile of {@code h}'s values and {@code infinite} more +∞ ones (the top
     * of its bucket, at most the largest value); NaN for none.
     */
    static double percentile(DoubleHistogram h, long infinite, double q) {
        long n = h.getTotalCount() + infinite;
        if (n == 0) {
            return Double.NaN;
        }
        long rank = Math.max(1, (long) Math.ceil(q * n - 1e-9)); // as Percentiles.ofSorted
        if (rank > h.getTotalCount()) {
            return Double.POSITIVE_INFINITY;
        }
        long seen = 0;
        for (DoubleHistogramIterationValue v : h.recordedValues()) {
            seen += v.getCountAtValueIteratedTo();
            if (seen >= rank) {
                return Math.min(h.getMaxValue(), h.highestEquivalentValue(v.getValueIteratedTo()));
            }
        }
        return h.getMaxValue();
    }
}
