package dev.tandem.sim;

import dev.tandem.bench.serve.UnloadedBaseline;

/**
 * The linear models of a {@link MachineProfile} from measured steps: a prefill line through
 * (prompt tokens, ms) points, and a decode plane through (sequences, context, ms) points measured
 * at one context for several batch sizes and at a second context for one of them.
 */
public final class ProfileFit {
    /** {intercept ms, per token ms} of prefill. */
    public record Prefill(double interceptMs, double perTokenMs) {
    }

    /** {intercept ms, per sequence ms, per context token ms} of a decode step. */
    public record Decode(double interceptMs, double perSequenceMs, double perContextTokenMs) {
    }

    private ProfileFit() {
    }

    /** Least squares through {@code (tokens[i], ms[i])}; a negative intercept (a fit's noise) is taken as 0. */
    public static Prefill prefill(double[] tokens, double[] ms) {
        double[] ab = UnloadedBaseline.leastSquares(tokens, ms);
        return new Prefill(Math.max(0, ab[0]), ab[1]);
    }

    /**
     * The plane {@code ms = c + d·b + e·b·ctx}: the line through the steps of {@code batches} at
     * context {@code context} gives c and d + e·context; the step of {@code farBatch} sequences at
     * {@code farContext} gives e (0 where noise makes it negative).
     */
    public static Decode decode(double[] batches, double[] ms, double context, double farBatch, double farContext,
                                double farMs) {
        double[] line = UnloadedBaseline.leastSquares(batches, ms);
        double intercept = Math.max(0, line[0]);
        double slope = line[1];
        double perContext = farContext == context ? 0
                : Math.max(0, (farMs - (line[0] + slope * farBatch)) / (farBatch * (farContext - context)));
        return new Decode(intercept, Math.max(0, slope - perContext * context), perContext);
    }
}
