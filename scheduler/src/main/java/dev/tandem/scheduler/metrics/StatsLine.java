package dev.tandem.scheduler.metrics;

import java.util.Locale;
import java.util.Map;

/**
 * The periodic stats line of {@code --log-stats-interval}: the requests running and waiting now,
 * the prompt and generation token rates since the previous line, and the KV cache's use (as vLLM
 * logs them).
 */
public final class StatsLine {
    private final ApiMetrics metrics;
    private long lastPromptTokens;
    private long lastGenerationTokens;
    private long lastNanos;

    /** Rates of the first line count from {@code nowNanos}. */
    public StatsLine(ApiMetrics metrics, long nowNanos) {
        this.metrics = metrics;
        this.lastPromptTokens = metrics.promptTokens();
        this.lastGenerationTokens = metrics.generationTokens();
        this.lastNanos = nowNanos;
    }

    /** The line at {@code nowNanos}, with the engine's queue depths per pool. */
    public synchronized String next(Map<String, Integer> queueDepths, long nowNanos) {
        return next(queueDepths, Double.NaN, nowNanos);
    }

    /** … and the share of the KV cache in use ({@code kvCacheUsage}, 0 to 1; NaN: not known here). */
    public synchronized String next(Map<String, Integer> queueDepths, double kvCacheUsage, long nowNanos) {
        long prompt = metrics.promptTokens();
        long generated = metrics.generationTokens();
        double seconds = Math.max(1e-9, (nowNanos - lastNanos) / 1e9);
        int waiting = queueDepths.values().stream().mapToInt(Integer::intValue).sum();
        String line = String.format(Locale.ROOT,
                "running %d, waiting %d; prompt %.1f tokens/s, generation %.1f tokens/s over the last %.1f s",
                metrics.running(), waiting, (prompt - lastPromptTokens) / seconds,
                (generated - lastGenerationTokens) / seconds, seconds)
                + (Double.isNaN(kvCacheUsage) ? "" : String.format(Locale.ROOT, "; KV cache %.1f %% used",
                100 * kvCacheUsage));
        lastPromptTokens = prompt;
        lastGenerationTokens = generated;
        lastNanos = nowNanos;
        return line;
    }
}
