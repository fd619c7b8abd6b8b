package dev.tandem.attention;

import java.util.Locale;

/**
 * What an attention node measures of the ping-pong, per layer: time spent dispatching (gather
 * into the send buffer and the send: the attention side's share of Tc), time blocked waiting for
 * the experts (idle), and rows sent; over all layers, the parts of the dispatch spent waiting for
 * the device's rows and converting for a bf16 wire (per submit). Busy time is the step time minus the idle time. Written by
 * the stepping thread, read by whoever prints.
 */
final class DisaggregationMetrics {
    private final long[] sendNanos;
    private final long[] waitNanos;
    private final long[] rows;
    private final long[] submits;
    private final long[] pendingSend;  // this step's, kept only if the step computed tokens
    private final long[] pendingWait;
    private final long[] pendingRows;
    private final long[] pendingSubmits;
    private long pendingDevice;          // waiting for the device to finish the rows to send
    private long pendingConvert;         // rounding to and widening from the bf16 wire
    private long deviceNanos;
    private long convertNanos;
    private final long[] workingStepNanos = new long[1 << 16]; // decode steps, for percentiles
    private int workingSteps;
    private long steps;
    private long stepNanos;

    DisaggregationMetrics(int layers) {
        sendNanos = new long[layers];
        waitNanos = new long[layers];
        rows = new long[layers];
        submits = new long[layers];
        pendingSend = new long[layers];
        pendingWait = new long[layers];
        pendingRows = new long[layers];
        pendingSubmits = new long[layers];
    }

    void sent(int layer, long nanos, int rowCount) {
        pendingSend[layer] += nanos;
        pendingRows[layer] += rowCount;
        pendingSubmits[layer]++;
    }

    void received(int layer, long waitedNanos) {
        pendingWait[layer] += waitedNanos;
    }

    /** Within a send: {@code deviceNanos} waiting for the device's rows, {@code convertNanos} converting for the wire. */
    void sendParts(long deviceNanos, long convertNanos) {
        pendingDevice += deviceNanos;
        pendingConvert += convertNanos;
    }

    /** Within a receive: widening the results from the wire. */
    void converted(long nanos) {
        pendingConvert += nanos;
    }

    /** A step of {@code nanos} that computed {@code tokens} tokens (0: an idle step, kept in lockstep). */
    synchronized void step(long nanos, int tokens, boolean decodeOnly) {
        boolean working = tokens > 0; // idle steps keep the cluster in lockstep; they are not serving time
        if (working) {
            deviceNanos += pendingDevice;
            convertNanos += pendingConvert;
        }
        pendingDevice = pendingConvert = 0;
        for (int l = 0; l < sendNanos.length; l++) {
            if (working) {
                sendNanos[l] += pendingSend[l];
                waitNanos[l] += pendingWait[l];
                rows[l] += pendingRows[l];
                submits[l] += pendingSubmits[l];
            }
            pendingSend[l] = pendingWait[l] = pendingRows[l] = pendingSubmits[l] = 0;
        }
        if (!working) {
            return;
        }
        steps++;
        stepNanos += nanos;
        if (decodeOnly) { // time between tokens: decode steps only, as a prompt's first token is TTFT
            workingStepNanos[workingSteps++ % workingStepNanos.length] = nanos;
        }
    }

    synchronized void reset() {
        workingSteps = 0;
        java.util.Arrays.fill(sendNanos, 0);
        java.util.Arrays.fill(waitNanos, 0);
        java.util.Arrays.fill(rows, 0);
        java.util.Arrays.fill(submits, 0);
        steps = 0;
        stepNanos = 0;
        deviceNanos = 0;
        convertNanos = 0;
    }

    private static double percentile(long[] sorted, double q) {
        return sorted.length == 0 ? 0 : sorted[(int) Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
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
        long[] sorted = java.util.Arrays.copyOf(workingStepNanos, Math.min(workingSteps, workingStepNanos.length));
        java.util.Arrays.sort(sorted);
        long micro = Math.max(1, submits.length == 0 ? 1 : submits[0]);
        long allSubmits = Math.max(1, java.util.Arrays.stream(submits).sum());
        return String.format(Locale.ROOT, "{\"role\":\"attention\",\"node\":%d,\"steps\":%d,\"step_us\":%.1f,\"step_p50_us\":%.1f,\"step_p99_us\":%.1f,"
                        + "\"busy_fraction\":%.3f,\"idle_fraction\":%.3f,\"ta_us\":%.1f,\"device_wait_us\":%.1f,"
                        + "\"convert_us\":%.1f,\"layers\":%s]}",
                nodeId, steps, stepNanos / 1e3 / Math.max(1, steps), percentile(sorted, 0.50) / 1e3,
                percentile(sorted, 0.99) / 1e3, stepNanos == 0 ? 0 : (double) busy / stepNanos,
                stepNanos == 0 ? 0 : (double) idle / stepNanos,
                (busy - send) / 1e3 / Math.max(1, micro * sendNanos.length), deviceNanos / 1e3 / allSubmits,
                convertNanos / 1e3 / allSubmits, layers);
    }
}
