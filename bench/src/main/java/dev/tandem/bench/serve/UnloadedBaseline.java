package dev.tandem.bench.serve;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.tandem.core.TandemException;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * The latencies a request would see on an idle server, fitted from requests sent one at a time:
 * {@code TTFT(p) = a + b·p} by least squares over prompt length p, TBT the median of all per-token gaps, and
 * {@code E2E(p, o) = TTFT(p) + (o − 1)·TBT}. Slowdowns under load are measured / predicted.
 *
 * @param ttftInterceptMs    a, ms
 * @param ttftPerTokenMs     b, ms per prompt token
 * @param tbtMs              ms
 * @param minTtftMs          the shortest TTFT measured; predictions never go below half of it, so that a fit
 *                           with a negative intercept cannot give a request a near-zero (or negative) baseline
 * @param samples            the baseline requests, as measured
 */
public record UnloadedBaseline(double ttftInterceptMs, double ttftPerTokenMs, double tbtMs, double minTtftMs,
                               List<Sample> samples) {
    /** One baseline request: prompt and output tokens, its TTFT, mean TBT and E2E in ms. */
    public record Sample(int promptTokens, int outputTokens, double ttftMs, double tbtMs, double e2eMs) {
    }

    public double predictedTtftMs(int promptTokens) {
        return Math.max(ttftInterceptMs + ttftPerTokenMs * promptTokens, minTtftMs / 2);
    }

    public double predictedE2eMs(int promptTokens, int outputTokens) {
        return predictedTtftMs(promptTokens) + (outputTokens - 1) * tbtMs;
    }

    /** Fits the model to successful one-at-a-time requests; needs at least one with two or more tokens. */
    public static UnloadedBaseline fit(List<RequestOutcome> outcomes) {
        List<RequestOutcome> ok = outcomes.stream().filter(RequestOutcome::ok).toList();
        if (ok.isEmpty()) {
            throw new TandemException("every baseline request failed: " + outcomes.stream()
                    .map(o -> o.error() + ": " + o.errorMessage()).distinct().toList());
        }
        double[] prompt = ok.stream().mapToDouble(o -> o.request().promptTokens()).toArray();
        double[] ttft = ok.stream().mapToDouble(RequestOutcome::ttftMs).toArray();
        double[] line = leastSquares(prompt, ttft);
        double[] gaps = ok.stream().flatMapToDouble(o -> Arrays.stream(o.tbtMs())).toArray();
        if (gaps.length == 0) {
            throw new TandemException("the baseline requests produced no second token, so TBT is unknown;"
                    + " raise --max-output or --baseline-requests");
        }
        List<Sample> samples = ok.stream().map(o -> new Sample(o.request().promptTokens(), o.outputTokens(),
                o.ttftMs(), o.meanTbtMs(), o.e2eMs())).toList();
        return new UnloadedBaseline(line[0], line[1], Percentiles.of(gaps, 0.5),
                Arrays.stream(ttft).min().orElseThrow(), samples);
    }

    /**
     * Ordinary least squares of y on x.
     *
     * @return {intercept, slope}; with fewer than two distinct x, slope 0 and intercept the mean of y
     */
    public static double[] leastSquares(double[] x, double[] y) {
        int n = x.length;
        double meanX = Arrays.stream(x).average().orElse(0);
        double meanY = Arrays.stream(y).average().orElse(0);
        double sxx = 0;
        double sxy = 0;
        for (int i = 0; i < n; i++) {
            sxx += (x[i] - meanX) * (x[i] - meanX);
            sxy += (x[i] - meanX) * (y[i] - meanY);
        }
        double slope = sxx == 0 ? 0 : sxy / sxx;
        return new double[] {meanY - slope * meanX, slope};
    }

    public void save(Path file) {
        try {
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(file.toFile(), this);
        } catch (IOException e) {
            throw new TandemException(file + ": cannot write the baseline: " + e.getMessage(), e);
        }
    }

    public static UnloadedBaseline load(Path file) {
        try {
            return new ObjectMapper().readValue(file.toFile(), UnloadedBaseline.class);
        } catch (IOException e) {
            throw new TandemException(file + ": not a baseline written by --save-baseline: " + e.getMessage(), e);
        }
    }
}
