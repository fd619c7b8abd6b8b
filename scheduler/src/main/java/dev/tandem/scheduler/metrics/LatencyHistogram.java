package dev.tandem.scheduler.metrics;

import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.DoubleAdder;

/**
 * A Prometheus histogram of durations in seconds with fixed upper bounds; recording is a few
 * atomic adds, from any thread.
 */
public final class LatencyHistogram {
    private final String name;
    private final String help;
    private final double[] upperBounds;  // s, ascending; +Inf is implicit
    private final AtomicLongArray counts; // (bucket), the last one for +Inf; not cumulative
    private final DoubleAdder sum = new DoubleAdder();

    public LatencyHistogram(String name, String help, double... upperBounds) {
        this.name = name;
        this.help = help;
        this.upperBounds = upperBounds.clone();
        this.counts = new AtomicLongArray(upperBounds.length + 1);
    }

    public void record(long nanos) {
        double seconds = nanos / 1e9;
        int bucket = 0;
        while (bucket < upperBounds.length && seconds > upperBounds[bucket]) {
            bucket++;
        }
        counts.incrementAndGet(bucket);
        sum.add(seconds);
    }

    /** The text format's lines: cumulative _bucket{le}, then _sum and _count. */
    void writeTo(StringBuilder out) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" histogram\n");
        long cumulative = 0;
        for (int i = 0; i <= upperBounds.length; i++) {
            cumulative += counts.get(i);
            String le = i < upperBounds.length ? Double.toString(upperBounds[i]) : "+Inf";
            out.append(name).append("_bucket{le=\"").append(le).append("\"} ").append(cumulative).append('\n');
        }
        out.append(name).append("_sum ").append(sum.sum()).append('\n');
        out.append(name).append("_count ").append(cumulative).append('\n');
    }
}
