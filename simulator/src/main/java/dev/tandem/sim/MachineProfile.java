package dev.tandem.sim;

import dev.tandem.core.cluster.ConfigFields;

import java.nio.file.Path;

/**
 * What one machine's steps take, as linear models of what the step holds, and what the machine
 * draws and costs: the input of {@link ClusterSimulation}. Read from a properties file:
 * <pre>
 * name = h200-mixtral-8x7b
 * source = where the figures come from (a command and its date, or a paper)
 * prefill.intercept_ms = 12.0         # a prefill step of n prompt tokens takes intercept + n · per_token
 * prefill.per_token_ms = 0.07
 * decode.intercept_ms = 24.8          # a decode step of b sequences holding c context tokens in all
 * decode.per_sequence_ms = 0.047      #   takes intercept + b · per_sequence + c · per_context_token
 * decode.per_context_token_ms = 0
 * kv.intercept_ms = 0.1               # a split request's KV transfer past its prefill (the last layer's)
 * kv.per_token_ms = 0.0005
 * max_batch_tokens = 8192             # prompt tokens a prefill step takes at most
 * power.prefill_w = 700               # watts while prefilling, decoding and idle
 * power.decode_w = 500
 * power.idle_w = 100
 * cost_per_hour = 3.5                 # dollars per machine-hour
 * mixed.prefill_factor = 0            # a step with prompt and decode tokens: 0, a prefill and a decode step
 *                                     #   in turn; F, F times a prefill of all its tokens (splitwise-sim: 1.1)
 * power.cap_w = 7140                  # POLCA's cap (0: none): capped, the machine draws at most this, and
 * power.cap_prefill_factor = 1.3      #   its prefill and decode take this many times as long: the point
 * power.cap_decode_factor = 1.0       #   of a performance-against-cap curve beside the uncapped one
 * </pre>
 * Errors name the file, the line and the field.
 */
public record MachineProfile(String name, String source, double prefillInterceptMs, double prefillPerTokenMs,
                             double decodeInterceptMs, double decodePerSequenceMs, double decodePerContextTokenMs,
                             double kvInterceptMs, double kvPerTokenMs, int maxBatchTokens, double prefillWatts,
                             double decodeWatts, double idleWatts, double costPerHour, double mixedPrefillFactor,
                             double capWatts, double capPrefillFactor, double capDecodeFactor) {
    private static final double MAX_MS = 1e9;

    /** No power cap. */
    public MachineProfile(String name, String source, double prefillInterceptMs, double prefillPerTokenMs,
                          double decodeInterceptMs, double decodePerSequenceMs, double decodePerContextTokenMs,
                          double kvInterceptMs, double kvPerTokenMs, int maxBatchTokens, double prefillWatts,
                          double decodeWatts, double idleWatts, double costPerHour, double mixedPrefillFactor) {
        this(name, source, prefillInterceptMs, prefillPerTokenMs, decodeInterceptMs, decodePerSequenceMs,
                decodePerContextTokenMs, kvInterceptMs, kvPerTokenMs, maxBatchTokens, prefillWatts, decodeWatts,
                idleWatts, costPerHour, mixedPrefillFactor, 0, 1, 1);
    }

    /** Whether the profile says what a power cap costs, so that a power budget can cap the machine. */
    public boolean cappable() {
        return capWatts > 0;
    }

    /** What the machine draws in a step, W: prefill or decode power, at most the cap where capped (and it has one). */
    public double stepWatts(boolean prefill, boolean capped) {
        double w = prefill ? prefillWatts : decodeWatts;
        return capped && cappable() ? Math.min(w, capWatts) : w;
    }

    /** A step with prompt and decode tokens costs a prefill and a decode step in turn. */
    public MachineProfile(String name, String source, double prefillInterceptMs, double prefillPerTokenMs,
                          double decodeInterceptMs, double decodePerSequenceMs, double decodePerContextTokenMs,
                          double kvInterceptMs, double kvPerTokenMs, int maxBatchTokens, double prefillWatts,
                          double decodeWatts, double idleWatts, double costPerHour) {
        this(name, source, prefillInterceptMs, prefillPerTokenMs, decodeInterceptMs, decodePerSequenceMs,
                decodePerContextTokenMs, kvInterceptMs, kvPerTokenMs, maxBatchTokens, prefillWatts, decodeWatts,
                idleWatts, costPerHour, 0);
    }

    /**
     * A step of {@code prefillTokens} prompt tokens beside {@code sequences} decoding ones holding
     * {@code contextTokens}, ms: what {@code mixed.prefill_factor} says.
     */
    public double mixedStepMs(long prefillTokens, int sequences, long contextTokens) {
        return mixedPrefillFactor > 0 ? mixedPrefillFactor * prefillMs(prefillTokens + sequences)
                : prefillMs(prefillTokens) + decodeStepMs(sequences, contextTokens);
    }

    /** A prefill step of {@code tokens} prompt tokens, ms. */
    public double prefillMs(long tokens) {
        return prefillInterceptMs + tokens * prefillPerTokenMs;
    }

    /** A decode step of {@code sequences} sequences holding {@code contextTokens} tokens in all, ms. */
    public double decodeStepMs(int sequences, long contextTokens) {
        return decodeInterceptMs + sequences * decodePerSequenceMs + contextTokens * decodePerContextTokenMs;
    }

    /** What a split request's KV transfer adds after its prefill ends (the layers before overlap with it), ms. */
    public double kvExposedMs(int promptTokens) {
        return kvInterceptMs + promptTokens * kvPerTokenMs;
    }

    /** The file {@link #load} reads, {@code comments} (lines, each written after a '#') at its head. */
    public String toProperties(java.util.List<String> comments) {
        StringBuilder sb = new StringBuilder();
        for (String c : comments) {
            sb.append("# ").append(c).append('\n');
        }
        java.util.Locale r = java.util.Locale.ROOT;
        sb.append("name = ").append(name).append('\n').append("source = ").append(source).append('\n');
        sb.append(String.format(r, "prefill.intercept_ms = %.6g%nprefill.per_token_ms = %.6g%n", prefillInterceptMs,
                prefillPerTokenMs));
        sb.append(String.format(r, "decode.intercept_ms = %.6g%ndecode.per_sequence_ms = %.6g%n"
                + "decode.per_context_token_ms = %.6g%n", decodeInterceptMs, decodePerSequenceMs, decodePerContextTokenMs));
        sb.append(String.format(r, "kv.intercept_ms = %.6g%nkv.per_token_ms = %.6g%nmax_batch_tokens = %d%n",
                kvInterceptMs, kvPerTokenMs, maxBatchTokens));
        sb.append(String.format(r, "power.prefill_w = %.6g%npower.decode_w = %.6g%npower.idle_w = %.6g%n"
                + "cost_per_hour = %.6g%n", prefillWatts, decodeWatts, idleWatts, costPerHour));
        if (mixedPrefillFactor > 0) {
            sb.append(String.format(r, "mixed.prefill_factor = %.6g%n", mixedPrefillFactor));
        }
        if (cappable()) {
            sb.append(String.format(r, "power.cap_w = %.6g%npower.cap_prefill_factor = %.6g%npower.cap_decode_factor = %.6g%n",
                    capWatts, capPrefillFactor, capDecodeFactor));
        }
        return sb.toString();
    }

    public static MachineProfile load(Path file) {
        ConfigFields f = ConfigFields.read(file, "profile");
        return new MachineProfile(f.required("name"), f.get("source", "unnamed"),
                f.doubleIn("prefill.intercept_ms", 0, MAX_MS, 0), positive(f, "prefill.per_token_ms"),
                f.doubleIn("decode.intercept_ms", 0, MAX_MS, 0), f.doubleIn("decode.per_sequence_ms", 0, MAX_MS, 0),
                f.doubleIn("decode.per_context_token_ms", 0, MAX_MS, 0),
                f.doubleIn("kv.intercept_ms", 0, MAX_MS, 0), f.doubleIn("kv.per_token_ms", 0, MAX_MS, 0),
                f.intIn("max_batch_tokens", 1, Integer.MAX_VALUE, 8192),
                f.doubleIn("power.prefill_w", 0, 1e6, 0), f.doubleIn("power.decode_w", 0, 1e6, 0),
                f.doubleIn("power.idle_w", 0, 1e6, 0), f.doubleIn("cost_per_hour", 0, 1e6, 0),
                f.doubleIn("mixed.prefill_factor", 0, 1e3, 0), f.doubleIn("power.cap_w", 0, 1e6, 0),
                f.doubleIn("power.cap_prefill_factor", 1, 1e3, 1), f.doubleIn("power.cap_decode_factor", 1, 1e3, 1));
    }

    /** A step must take time: a profile whose prefill is free would let one machine serve any load. */
    private static double positive(ConfigFields f, String key) {
        double v = f.doubleIn(key, 0, MAX_MS, Double.NaN);
        if (!(v > 0)) {
            throw new dev.tandem.core.TandemException(f.at(key) + ": '" + key + "' must be given, and above 0");
        }
        return v;
    }
}
