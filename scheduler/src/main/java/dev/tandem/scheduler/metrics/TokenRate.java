package dev.tandem.scheduler.metrics;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Tokens per second over the last {@link #WINDOW_SECONDS} whole seconds, from one-second
 * buckets reused round-robin. A bucket is reset by the first add of a new second; an add racing
 * that reset may be lost, which a gauge tolerates.
 */
final class TokenRate {
    static final int WINDOW_SECONDS = 10;
    private final AtomicLongArray counts = new AtomicLongArray(WINDOW_SECONDS);
    private final AtomicLongArray seconds = new AtomicLongArray(WINDOW_SECONDS); // the second each bucket counts

    void add(long tokens, long nowNanos) {
        long second = nowNanos / 1_000_000_000L;
        int i = (int) Math.floorMod(second, (long) WINDOW_SECONDS);
        long seen = seconds.get(i);
        if (seen != second && seconds.compareAndSet(i, seen, second)) {
            counts.set(i, 0);
        }
        counts.addAndGet(i, tokens);
    }

    /** The tokens of the {@link #WINDOW_SECONDS} seconds before the current one, per second. */
    double perSecond(long nowNanos) {
        long current = nowNanos / 1_000_000_000L;
        long total = 0;
        for (int i = 0; i < WINDOW_SECONDS; i++) {
            long second = seconds.get(i);
            if (second < current && second >= current - WINDOW_SECONDS) {
                total += counts.get(i);
            }
        }
        return (double) total / WINDOW_SECONDS;
    }
}
