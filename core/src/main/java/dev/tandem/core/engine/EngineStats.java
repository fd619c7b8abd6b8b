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

    public long prefillTokens() {
        return prefillTokens;
    }

    public long decodeTokens() {
        return decodeTokens;
    }

    public double prefillTokensPerSecond() {
        return prefillNanos == 0 ? 0 : prefillTokens * 1e9 / prefillNanos;
    }

    public double decodeTokensPerSecond() {
        return decodeNanos == 0 ? 0 : decodeTokens * 1e9 / decodeNanos;
    }

    public void reset() {
        prefillTokens = prefillNanos = decodeTokens = decodeNanos = decodeSteps = 0;
    }
}
