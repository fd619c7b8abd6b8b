package dev.tandem.attention;

import java.util.Locale;

/**
 * What an attention node measures of the ping-pong, per layer: time spent dispatching (gather
 * into the send buffer and the send: the attention side's share of Tc), time blocked waiting for
 * the experts (idle), and rows sent. Busy time is the step time minus the idle time. Written by
 * the stepping thread, read by whoever prints.
 */
final class DisaggregationMetrics {
    private final long[] sendNanos;
    private final long[] waitNanos;
    private final long[] rows;
    private final long[] submits;
    private long steps;
    private long stepNanos;

    DisaggregationMetrics(int layers) {
        sendNanos = new long[layers];
        waitNanos = new long[layers];
        rows = new long[layers];
        submits = new long[layers];
    }

    void sent(int layer, long nanos, int rowCount) {
        sendNanos[layer] += nanos;
        rows[layer] += rowCount;
        submits[layer]++;
    }

    void received(int layer, long waitedNanos) {
        waitNanos[layer] += waitedNanos;
    }

    void step(long nanos) {
        steps++;
        stepNanos += nanos;
    }

    synchronized void reset() {
        java.util.Arrays.fill(sendNanos, 0);
        java.util.Arrays.fill(waitNanos, 0);
        java.util.Arrays.fill(rows, 0);
        java.util.Arrays.fill(submits, 0);
        steps = 0;
        stepNanos = 0;
    }

    /** One JSON object: totals and per-layer means per micro-batch, in µs. */
    synchronized String toJson(int nodeId) {
        long idle = 0;
        long send = 0;
        StringBuilder layers = new StringBuilder("[");
        for (int l = 0; l < sendNanos.length; l++) {
            idle += waitNanos[l];
            send += sendNanos[l];
            long n = Math.max(1, submits[l]);
            layers.append(l == 0 ? "" : ",").append(String.format(Locale.ROOT,
                    "{\"layer\":%d,\"send_us\":%.1f,\"wait_us\":%.1f,\"rows\":%d}", l, sendNanos[l] / 1e3 / n,
                    waitNanos[l] / 1e3 / n, rows[l]));
        }
        long busy = stepNanos - idle;
        long micro = Math.max(1, submits.length == 0 ? 1 : submits[0]);
        return String.format(Locale.ROOT, "{\"role\":\"attention\",\"node\":%d,\"steps\":%d,\"step_us\":%.1f,"
                        + "\"busy_fraction\":%.3f,\"idle_fraction\":%.3f,\"ta_us\":%.1f,\"layers\":%s]}",
                nodeId, steps, stepNanos / 1e3 / Math.max(1, steps), stepNanos == 0 ? 0 : (double) busy / stepNanos,
                stepNanos == 0 ? 0 : (double) idle / stepNanos,
                (busy - send) / 1e3 / Math.max(1, micro * sendNanos.length), layers);
    }
}
