package dev.tandem.core.engine;

/**
 * Counters over the steps an engine ran. A step with any prompt token counts as prefill; the
 * others are decode steps.
 */
public final class EngineStats {
    long prefillTokens;
    long prefillNanos;
    long decodeTokens;
    long decodeNanos;
    long decodeSteps;
    volatile long preemptions; // read by metrics on other threads

    public long prefillTokens() {
        return prefillTokens;
    }

    public long decodeTokens() {
        return decodeTokens;
    }

    /** Sequences whose KV blocks were taken for others to grow (they recompute when readmitted). */
    public long preemptions() {
        return preemptions;
    }

    public double prefillTokensPerSecond() {
        return prefillNanos == 0 ? 0 : prefillTokens * 1e9 / prefillNanos;
    }

    public double decodeTokensPerSecond() {
        return decodeNanos == 0 ? 0 : decodeTokens * 1e9 / decodeNanos;
    }

    /** Steps without a prompt token. */
    public long decodeSteps() {
        return decodeSteps;
    }

    /** The mean time of a step without a prompt token, ms; 0 when none ran. */
    public double meanDecodeStepMs() {
        return decodeSteps == 0 ? 0 : decodeNanos / 1e6 / decodeSteps;
    }

    /** The mean sequences such a step decoded; 0 when none ran. */
    public double meanDecodeBatch() {
        return decodeSteps == 0 ? 0 : (double) decodeTokens / decodeSteps;
    }

    public void reset() {
        prefillTokens = prefillNanos = decodeTokens = decodeNanos = decodeSteps = preemptions = 0;
    }
}
