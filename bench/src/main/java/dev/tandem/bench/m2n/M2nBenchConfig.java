package dev.tandem.bench.m2n;

import dev.tandem.core.compute.BackendSpec;

import java.util.List;

/**
 * What {@link M2nBenchmark} runs and for how long.
 *
 * @param transports        in the order they run for each configuration.
 * @param shapes            (M, N) pairs.
 * @param sizes             activation bytes per (sender, receiver) pair, multiples of {@link M2nBenchmark#ROW_BYTES}.
 * @param warmupSeconds     per configuration, not measured (at least a few round trips).
 * @param measureSeconds    per configuration (at least a few round trips, so a slow one may take longer).
 * @param aeronLogBudgetMiB a configuration whose Aeron log buffers would need more memory is skipped.
 * @param repeats           runs of each row; the one with the median throughput is reported.
 * @param device            null: rows start and end in host memory; else the backend whose device
 *                          memory they start and end in (one copy out before a send, one back after
 *                          a receive, on both sides), and memcpy is that device's D→H→D copy.
 */
public record M2nBenchConfig(
        List<Transport> transports, List<Shape> shapes, List<Integer> sizes, double warmupSeconds,
        double measureSeconds, long aeronLogBudgetMiB, int repeats, BackendSpec device) {

    public static final long DEFAULT_LOG_BUDGET_MIB = 4096;

    /** M senders by N receivers. */
    public record Shape(int m, int n) {
        @Override
        public String toString() {
            return m + "x" + n;
        }
    }

    public M2nBenchConfig {
        transports = List.copyOf(transports);
        shapes = List.copyOf(shapes);
        sizes = List.copyOf(sizes);
        if (repeats < 1) {
            throw new IllegalArgumentException("repeats must be at least 1: " + repeats);
        }
        for (int size : sizes) {
            if (size <= 0 || size % M2nBenchmark.ROW_BYTES != 0) {
                throw new IllegalArgumentException("size must be a positive multiple of " + M2nBenchmark.ROW_BYTES + ": " + size);
            }
        }
    }

    /** Every transport, 1x1, 2x2 and 4x4, 2 KB to 8 MB: a few minutes on two cores. */
    public static M2nBenchConfig full() {
        return new M2nBenchConfig(List.of(Transport.values()), allShapes(),
                List.of(2_000, 16_000, 256_000, 1_000_000, 8_000_000), 0.3, 0.7, DEFAULT_LOG_BUDGET_MIB, 1, null);
    }

    /** Three sizes, shorter runs: a smoke test of the whole matrix in well under a minute. */
    public static M2nBenchConfig quick() {
        return new M2nBenchConfig(List.of(Transport.values()), allShapes(), List.of(16_000, 256_000, 1_000_000),
                0.1, 0.3, DEFAULT_LOG_BUDGET_MIB, 1, null);
    }

    public M2nBenchConfig withLogBudgetMiB(long mib) {
        return new M2nBenchConfig(transports, shapes, sizes, warmupSeconds, measureSeconds, mib, repeats, device);
    }

    public M2nBenchConfig withRepeats(int runs) {
        return new M2nBenchConfig(transports, shapes, sizes, warmupSeconds, measureSeconds, aeronLogBudgetMiB, runs, device);
    }

    public M2nBenchConfig withSeconds(double warmup, double measure) {
        return new M2nBenchConfig(transports, shapes, sizes, warmup, measure, aeronLogBudgetMiB, repeats, device);
    }

    public M2nBenchConfig withTransports(List<Transport> only) {
        return new M2nBenchConfig(only, shapes, sizes, warmupSeconds, measureSeconds, aeronLogBudgetMiB, repeats, device);
    }

    public M2nBenchConfig withShapes(List<Shape> only) {
        return new M2nBenchConfig(transports, only, sizes, warmupSeconds, measureSeconds, aeronLogBudgetMiB, repeats, device);
    }

    public M2nBenchConfig withSizes(List<Integer> only) {
        return new M2nBenchConfig(transports, shapes, only, warmupSeconds, measureSeconds, aeronLogBudgetMiB, repeats, device);
    }

    public M2nBenchConfig withDevice(BackendSpec spec) {
        return new M2nBenchConfig(transports, shapes, sizes, warmupSeconds, measureSeconds, aeronLogBudgetMiB, repeats, spec);
    }

    private static List<Shape> allShapes() {
        return List.of(new Shape(1, 1), new Shape(2, 2), new Shape(4, 4));
    }
}
