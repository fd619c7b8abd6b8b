package dev.tandem.bench.m2n;

import dev.tandem.transport.Dtype;
import dev.tandem.transport.FrameFlyweight;
import dev.tandem.transport.RowBatch;
import org.HdrHistogram.Histogram;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * The physical bound for one configuration: M threads, one per sender, each copying its rows
 * (activations and routing) into each receiver's gather buffer and the same bytes back, with
 * nothing else: no framing, no validation, no waiting for other senders. A round trip is one
 * sender's N copies out and N copies back. On a device ({@link M2nBenchConfig#device}) each copy
 * is the device's own: its rows to pinned host memory and back (cuMemcpy D→H→D), out and back.
 */
final class MemcpyRun {
    private MemcpyRun() {
    }

    /**
     * {@code -Dtandem.m2n.memcpyPhases=lockstep}: on a device, the senders' threads wait for each
     * other after each of a round trip's four copies, as an M2N round trip's phases do (every
     * sender's dispatch goes out before any receiver's gather), so that they all copy one way at a
     * time. By default each thread runs on, and one thread's copies to the device overlap with
     * another's from it: the link carries both ways at once, which a round trip never gets.
     */
    static final boolean LOCKSTEP = "lockstep".equals(System.getProperty("tandem.m2n.memcpyPhases"));

    static M2nResult run(int m, int n, int bytes, M2nBenchConfig config) throws Exception {
        final int rows = bytes / M2nBenchmark.ROW_BYTES;
        final PhaseBarrier phases = new PhaseBarrier(m);
        final RowBatch[] gathered = new RowBatch[n]; // receiver r's buffer: sender s's rows at s * rows
        for (int r = 0; r < n; r++) {
            gathered[r] = new RowBatch(m, m * rows, M2nBenchmark.HIDDEN, Dtype.BF16);
        }
        final long warmupNs = (long) (config.warmupSeconds() * 1e9);
        final long measureNs = (long) (config.measureSeconds() * 1e9);
        final ExecutorService pool = Executors.newFixedThreadPool(m, Thread.ofPlatform()
                .name("m2n-memcpy-", 0).daemon(true).factory());
        final List<Future<long[]>> futures = new ArrayList<>();
        final Histogram[] histograms = new Histogram[m];
        try {
            for (int s = 0; s < m; s++) {
                final int sender = s;
                histograms[s] = new Histogram(1, TimeUnit.SECONDS.toNanos(60), 3);
                final Histogram histogram = histograms[s];
                futures.add(pool.submit(() -> config.device() == null
                        ? copyLoop(sender, n, rows, gathered, warmupNs, measureNs, histogram)
                        : deviceCopyLoop(sender, n, rows, config, warmupNs, measureNs, histogram, phases)));
            }
            double bytesPerSecond = 0;
            long roundTrips = Long.MAX_VALUE;
            for (Future<long[]> future : futures) {
                final long[] stepsAndNanos = future.get(60 + (long) (config.warmupSeconds() + config.measureSeconds()),
                        TimeUnit.SECONDS);
                bytesPerSecond += 2.0 * n * bytes * stepsAndNanos[0] / (stepsAndNanos[1] / 1e9);
                roundTrips = Math.min(roundTrips, stepsAndNanos[0]);
            }
            final Histogram all = new Histogram(1, TimeUnit.SECONDS.toNanos(60), 3);
            for (Histogram histogram : histograms) {
                all.add(histogram);
            }
            return new M2nResult(Transport.MEMCPY.label(), m, n, bytes, bytesPerSecond / 1e6,
                    all.getValueAtPercentile(50) / 1e3, all.getValueAtPercentile(99) / 1e3,
                    all.getValueAtPercentile(99.9) / 1e3, roundTrips);
        } finally {
            pool.shutdownNow();
            pool.awaitTermination(60, TimeUnit.SECONDS);
        }
    }

    /** @return {measured round trips, measured nanoseconds}: device → host → device for the dispatch, and again for the combine. */
    private static long[] deviceCopyLoop(int s, int n, int rows, M2nBenchConfig config, long warmupNs, long measureNs,
                                         Histogram histogram, PhaseBarrier phases) {
        final RowBatch batch = new RowBatch(n, n * rows, M2nBenchmark.HIDDEN, Dtype.BF16);
        RoundTripRun.fill(batch, s);
        try (DeviceStage stage = DeviceStage.open(config.device(), batch)) {
            return timed(warmupNs, measureNs, histogram, () -> {
                for (int direction = 0; direction < 2; direction++) {
                    stage.toHost(n * rows);
                    phases.await();
                    stage.toDevice(n * rows);
                    phases.await();
                }
            });
        } finally {
            phases.leave();
        }
    }

    /** Where {@link #LOCKSTEP}, the threads meet after every copy (spinning: a park costs more than a copy); else nothing. */
    private static final class PhaseBarrier {
        private final int parties;
        private final java.util.concurrent.atomic.AtomicLong arrivals = new java.util.concurrent.atomic.AtomicLong();
        private volatile boolean someoneLeft; // a thread past its measuring time: the others no longer wait for it

        PhaseBarrier(int parties) {
            this.parties = parties;
        }

        void await() {
            if (!LOCKSTEP || parties == 1) {
                return;
            }
            final long phase = arrivals.incrementAndGet() - 1;
            final long target = (phase / parties + 1) * parties;
            while (arrivals.get() < target && !someoneLeft) {
                Thread.onSpinWait();
            }
        }

        void leave() {
            someoneLeft = true;
        }
    }

    /** @return {measured round trips, measured nanoseconds}. */
    private static long[] copyLoop(int s, int n, int rows, RowBatch[] gathered, long warmupNs, long measureNs,
                                   Histogram histogram) {
        final RowBatch batch = new RowBatch(n, n * rows, M2nBenchmark.HIDDEN, Dtype.BF16);
        RoundTripRun.fill(batch, s);
        final int activationBytes = rows * batch.rowBytes();
        final int routingBytes = rows * FrameFlyweight.ROUTING_ENTRY_LENGTH;
        return timed(warmupNs, measureNs, histogram, () -> {
            for (int r = 0; r < n; r++) { // dispatch
                final RowBatch to = gathered[r];
                to.activations().putBytes(to.activationOffset(s * rows), batch.activations(),
                        batch.activationOffset(r * rows), activationBytes);
                to.routing().putBytes(RowBatch.routingOffset(s * rows), batch.routing(),
                        RowBatch.routingOffset(r * rows), routingBytes);
            }
            for (int r = 0; r < n; r++) { // combine
                final RowBatch from = gathered[r];
                batch.activations().putBytes(batch.activationOffset(r * rows), from.activations(),
                        from.activationOffset(s * rows), activationBytes);
                batch.routing().putBytes(RowBatch.routingOffset(r * rows), from.routing(),
                        RowBatch.routingOffset(s * rows), routingBytes);
            }
        });
    }

    /** Round trips after the warm-up until the measuring time and at least five: {measured round trips, nanoseconds}. */
    private static long[] timed(long warmupNs, long measureNs, Histogram histogram, Runnable roundTrip) {
        final long startNs = System.nanoTime();
        long measureStartNs = 0;
        long steps = 0;
        while (true) {
            final long nowNs = System.nanoTime();
            if (measureStartNs == 0 && nowNs - startNs >= warmupNs) {
                measureStartNs = nowNs;
            } else if (measureStartNs != 0 && nowNs - measureStartNs >= measureNs && steps >= 5) {
                return new long[]{steps, nowNs - measureStartNs};
            }
            roundTrip.run();
            if (measureStartNs != 0) {
                histogram.recordValue(System.nanoTime() - nowNs);
                steps++;
            }
        }
    }
}
