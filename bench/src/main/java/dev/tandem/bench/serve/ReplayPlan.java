package dev.tandem.bench.serve;

import java.util.ArrayList;
import java.util.List;

/**
 * Turns a trace into an open-loop schedule: the slice of the trace that starts {@code offsetSeconds} into it
 * (trace time), wrapping around its end, with its inter-arrival pattern rescaled so that exactly
 * {@code round(rate · duration)} requests arrive over {@code duration} seconds.
 */
public final class ReplayPlan {
    private ReplayPlan() {
    }

    /**
     * Request i of the slice is sent at {@code (t_i − t_0) · s}, where t are trace arrivals and
     * {@code s = (n / rate) / (t_n − t_0)}: the slice's n gaps, up to the first arrival after it, are stretched
     * to n / rate seconds. A slice whose arrivals all coincide is spread evenly instead.
     *
     * @param rate          requests/s; NaN or ≤ 0 takes the trace's own mean rate
     * @param durationSeconds s of arrivals
     * @param offsetSeconds s into the trace where the slice starts
     */
    public static List<PlannedRequest> plan(Trace trace, double rate, double durationSeconds, double offsetSeconds,
                                            LengthLimits limits) {
        double r = Double.isFinite(rate) && rate > 0 ? rate : trace.meanRate();
        if (!Double.isFinite(r) || r <= 0) {
            throw new IllegalArgumentException(trace.name() + ": cannot derive a rate from a trace with one arrival;"
                    + " give --rate");
        }
        int count = (int) Math.max(1, Math.round(r * durationSeconds));
        long first = firstAtOrAfter(trace, offsetSeconds);
        double t0 = trace.wrappedArrival(first);
        double span = trace.wrappedArrival(first + count) - t0;
        double scale = span > 0 ? (count / r) / span : 0;
        List<PlannedRequest> plan = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            long k = first + i;
            double at = scale > 0 ? (trace.wrappedArrival(k) - t0) * scale : i / r;
            int row = (int) (k % trace.size());
            int[] lengths = limits.apply(trace.contextTokens()[row], trace.generatedTokens()[row]);
            plan.add(new PlannedRequest(i, at, lengths[0], lengths[1]));
        }
        return plan;
    }

    /** Index (in the wrapped trace) of the first arrival at or after {@code offsetSeconds}. */
    private static long firstAtOrAfter(Trace trace, double offsetSeconds) {
        long k = 0;
        double period = trace.wrappedArrival(trace.size()) - trace.wrappedArrival(0);
        if (offsetSeconds > 0 && period > 0) {
            k = (long) Math.floor(offsetSeconds / period) * trace.size();
        }
        while (trace.wrappedArrival(k) < offsetSeconds) {
            k++;
        }
        return k;
    }
}
