package dev.tandem.expert;

import java.util.Locale;

/**
 * What an expert node measures, per layer: time waiting for the attention nodes' frames (idle),
 * expert compute (Te), and replying; and the tokens each expert saw.
 */
public final class ExpertMetrics {
    private final long[] waitNanos;
    private final long[] computeNanos;
    private final long[] replyNanos;
    private long convertNanos;
    private final long[] calls;
    private final long[] tokensPerExpert;
    private volatile boolean resetRequested;

    ExpertMetrics(int layers, int experts) {
        waitNanos = new long[layers];
        computeNanos = new long[layers];
        replyNanos = new long[layers];
        calls = new long[layers];
        tokensPerExpert = new long[experts];
    }

    /** Asks the serving thread to start counting afresh at its next record (from any thread). */
    public void requestReset() {
        resetRequested = true;
    }

    /** A call: waiting for its frames, the experts (Te), the reply, and converting from and to a bf16 wire within those. */
    void record(int layer, long wait, long compute, long reply, long convert) {
        if (resetRequested) {
            resetRequested = false;
            java.util.Arrays.fill(waitNanos, 0);
            java.util.Arrays.fill(computeNanos, 0);
            java.util.Arrays.fill(replyNanos, 0);
            java.util.Arrays.fill(calls, 0);
            java.util.Arrays.fill(tokensPerExpert, 0);
            convertNanos = 0;
        }
        convertNanos += convert;
        waitNanos[layer] += wait;
        computeNanos[layer] += compute;
        replyNanos[layer] += reply;
        calls[layer]++;
    }

    void token(int expert) {
        tokensPerExpert[expert]++;
    }

    /** One JSON object: busy and idle fractions, Te per (layer, micro-batch) in µs, tokens per expert. */
    public String toJson(int nodeId) {
        long wait = 0;
        long busy = 0;
        long n = 0;
        for (int l = 0; l < calls.length; l++) {
            wait += waitNanos[l];
            busy += computeNanos[l] + replyNanos[l];
            n += calls[l];
        }
        busy += convertNanos;
        long total = wait + busy;
        StringBuilder tokens = new StringBuilder("[");
        for (int e = 0; e < tokensPerExpert.length; e++) {
            tokens.append(e == 0 ? "" : ",").append(tokensPerExpert[e]);
        }
        long compute = 0;
        for (long c : computeNanos) {
            compute += c;
        }
        long reply = 0;
        for (long r : replyNanos) {
            reply += r;
        }
        return String.format(Locale.ROOT, "{\"role\":\"expert\",\"node\":%d,\"busy_fraction\":%.3f,"
                        + "\"idle_fraction\":%.3f,\"te_us\":%.1f,\"reply_us\":%.1f,\"convert_us\":%.1f,"
                        + "\"tokens_per_expert\":%s]}", nodeId,
                total == 0 ? 0 : (double) busy / total, total == 0 ? 0 : (double) wait / total,
                compute / 1e3 / Math.max(1, n), reply / 1e3 / Math.max(1, n), convertNanos / 1e3 / Math.max(1, n), tokens);
    }
}
