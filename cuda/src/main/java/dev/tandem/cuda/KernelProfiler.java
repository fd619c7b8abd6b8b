package dev.tandem.cuda;

import dev.tandem.cuda.bind.CudaDriver;

import java.lang.foreign.MemorySegment;
import java.util.Map;
import java.util.TreeMap;

/**
 * Device time per operation, from event pairs around each launch ({@code -Dtandem.cuda.profile=true}):
 * the events are read when the stream drains, so profiling adds no synchronisation of its own.
 * The report names each operation's share of the device time and of the wall time between
 * the first and the last event, whose difference is the device sitting idle (launch gaps, host work).
 */
final class KernelProfiler {
    private static final int PAIRS = 16_384;

    private final CudaDriver driver;
    private final MemorySegment stream;
    private final MemorySegment[] starts = new MemorySegment[PAIRS];
    private final MemorySegment[] ends = new MemorySegment[PAIRS];
    private final String[] names = new String[PAIRS];
    private final Map<String, double[]> totals = new TreeMap<>(); // name → {ms, count}
    private MemorySegment first;
    private MemorySegment last;
    private double spanMs;
    private int used;
    // the device is idle from a drain until the next launch: the host's time in between, by the launch that ends it
    private final Map<String, double[]> afterSync = new TreeMap<>(); // name → {ms, count}
    private long drainedNanos;  // when the stream last drained; 0 once a launch followed
    private long pendingGapNanos;
    private long syncs;
    private final Map<String, double[]> marks = new TreeMap<>(); // name → {ms since the sync, count}

    KernelProfiler(CudaDriver driver, MemorySegment stream) {
        this.driver = driver;
        this.stream = stream;
        for (int i = 0; i < PAIRS; i++) {
            starts[i] = driver.createEvent();
            ends[i] = driver.createEvent();
        }
    }

    /** Before an operation; the caller drains the stream first when {@link #full}. */
    void begin() {
        if (drainedNanos != 0) {
            pendingGapNanos = System.nanoTime() - drainedNanos;
            drainedNanos = 0;
        }
        driver.record(starts[used], stream);
    }

    void end(String name) {
        driver.record(ends[used], stream);
        names[used++] = name;
        if (pendingGapNanos != 0) {
            double[] t = afterSync.computeIfAbsent(name, n -> new double[2]);
            t[0] += pendingGapNanos / 1e6;
            t[1]++;
            pendingGapNanos = 0;
        }
    }

    /** The host's time since the last drain, where no launch has followed it yet, under {@code name}. */
    void mark(String name) {
        if (drainedNanos != 0) {
            double[] t = marks.computeIfAbsent(name, n -> new double[2]);
            t[0] += (System.nanoTime() - drainedNanos) / 1e6;
            t[1]++;
        }
    }

    /** The stream has just drained (after {@link #collect}, whose own host time is the profiler's). */
    void drained() {
        drainedNanos = System.nanoTime();
        syncs++;
    }

    boolean full() {
        return used == PAIRS;
    }

    /** After the stream drained: folds the recorded pairs into the totals. */
    void collect() {
        if (used == 0) {
            return;
        }
        for (int i = 0; i < used; i++) {
            double ms = driver.elapsedMillis(starts[i], ends[i]);
            double[] t = totals.computeIfAbsent(names[i], n -> new double[2]);
            t[0] += ms;
            t[1]++;
        }
        spanMs += driver.elapsedMillis(starts[0], ends[used - 1]);
        used = 0;
    }

    String report() {
        double device = totals.values().stream().mapToDouble(t -> t[0]).sum();
        StringBuilder out = new StringBuilder(String.format(
                "device time %.1f ms over %.1f ms of recorded spans (%.0f%% busy)%n", device, spanMs,
                spanMs == 0 ? 0 : 100 * device / spanMs));
        totals.entrySet().stream().sorted((a, b) -> Double.compare(b.getValue()[0], a.getValue()[0])).forEach(e ->
                out.append(String.format("  %-28s %9.2f ms %5.1f%% %8d calls %8.1f us each%n", e.getKey(), e.getValue()[0],
                        100 * e.getValue()[0] / Math.max(device, 1e-9), (long) e.getValue()[1],
                        1e3 * e.getValue()[0] / e.getValue()[1])));
        double idle = afterSync.values().stream().mapToDouble(t -> t[0]).sum();
        out.append(String.format("%d syncs; the host's time from a sync to the next launch (the device idle): %.1f ms,"
                + " by the launch after it:%n", syncs, idle));
        afterSync.entrySet().stream().sorted((a, b) -> Double.compare(b.getValue()[0], a.getValue()[0])).limit(8)
                .forEach(e -> out.append(String.format("  %-28s %9.2f ms %8d times %8.1f us each%n", e.getKey(),
                        e.getValue()[0], (long) e.getValue()[1], 1e3 * e.getValue()[0] / e.getValue()[1])));
        marks.forEach((name, t) -> out.append(String.format("  since the sync, at %-24s %8.1f us each (%d times)%n",
                name, 1e3 * t[0] / t[1], (long) t[1])));
        return out.toString();
    }

    void reset() {
        totals.clear();
        afterSync.clear();
        marks.clear();
        spanMs = 0;
        syncs = 0;
        drainedNanos = 0;
        pendingGapNanos = 0;
    }

    void close() {
        for (int i = 0; i < PAIRS; i++) {
            driver.destroyEvent(starts[i]);
            driver.destroyEvent(ends[i]);
        }
    }
}
