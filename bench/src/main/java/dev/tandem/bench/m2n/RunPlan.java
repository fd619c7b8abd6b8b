package dev.tandem.bench.m2n;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Which round trips of one configuration are warm-up, measured, and the last, decided by sender
 * 0 alone and read by every sender and receiver, so that all run the same steps.
 * <p>
 * Sender 0 decides at the start of a step, before it sends that step's frames. Another node
 * can only start step j + 1 after it has a frame of sender 0 for step j, so it always sees a
 * decision taken at the start of step j (volatile write before the send, volatile read after
 * the receive).
 */
final class RunPlan {
    private static final int MIN_WARMUP_STEPS = 3;
    private static final int MIN_MEASURED_STEPS = 5;

    private final long warmupNs;
    private final long measureNs;
    private final AtomicLong lastStep = new AtomicLong(Long.MAX_VALUE);
    private volatile long measureFrom = Long.MAX_VALUE;
    private long startNs;        // sender 0 only
    private long measureStartNs; // sender 0 only, read after the threads are joined
    private long endNs;          // sender 0 only, read after the threads are joined

    RunPlan(double warmupSeconds, double measureSeconds) {
        this.warmupNs = (long) (warmupSeconds * 1e9);
        this.measureNs = (long) (measureSeconds * 1e9);
    }

    /** Sender 0, at the start of every step: may start measuring, or make this step the last. */
    void lead(long step, long nowNs) {
        if (step == 0) {
            startNs = nowNs;
        }
        if (measureFrom == Long.MAX_VALUE) {
            if (nowNs - startNs >= warmupNs && step >= MIN_WARMUP_STEPS) {
                measureStartNs = nowNs;
                measureFrom = step;
            }
        } else if (lastStep.get() == Long.MAX_VALUE && nowNs - measureStartNs >= measureNs
                && step - measureFrom + 1 >= MIN_MEASURED_STEPS) {
            lastStep.set(step);
        }
    }

    /** Sender 0, after its last step. */
    void end(long nowNs) {
        endNs = nowNs;
    }

    /** @return true when {@code step} is past the last: stop before starting it. */
    boolean isDone(long step) {
        return step > lastStep.get();
    }

    /** @return true when a completed {@code step} counts. */
    boolean isMeasured(long step) {
        return step >= measureFrom;
    }

    long measuredSteps() {
        return lastStep.get() - measureFrom + 1;
    }

    double measuredSeconds() {
        return (endNs - measureStartNs) / 1e9;
    }
}
