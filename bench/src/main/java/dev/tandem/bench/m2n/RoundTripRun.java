package dev.tandem.bench.m2n;

import dev.tandem.transport.Dtype;
import dev.tandem.transport.LocalM2n;
import dev.tandem.transport.M2nContext;
import dev.tandem.transport.M2nReceiver;
import dev.tandem.transport.M2nSender;
import dev.tandem.transport.RowBatch;
import dev.tandem.transport.TransportConfig;
import org.HdrHistogram.Histogram;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * One configuration over a real M2N transport: M sender threads and N receiver threads in this
 * process, each with its own node (driver or event loop) where the transport has them. A round
 * trip is one step: the sender dispatches its rows to all N receivers, each receiver gathers
 * all M senders' rows and replies at once (no expert compute), the sender gathers all results.
 */
final class RoundTripRun {
    private static final long JOIN_SLACK_S = 60;

    private RoundTripRun() {
    }

    static M2nResult run(Transport transport, int m, int n, int bytes, M2nBenchConfig config,
                         TransportConfig transportConfig) throws Exception {
        final int rows = bytes / M2nBenchmark.ROW_BYTES;
        final M2nContext ctx = new M2nContext()
                .hiddenSize(M2nBenchmark.HIDDEN)
                .dtype(Dtype.BF16)
                .maxTokensPerPeer(rows)
                .epoch(1)
                .config(transportConfig);
        final RunPlan plan = new RunPlan(config.warmupSeconds(), config.measureSeconds());
        final Histogram[] histograms = new Histogram[m];
        final ExecutorService pool = Executors.newFixedThreadPool(m + n, Thread.ofPlatform()
                .name("m2n-bench-", 0).daemon(true).factory());
        try (LocalM2n local = new LocalM2n(transport.kind(), m, n, ctx)) {
            final List<Future<?>> futures = new ArrayList<>();
            for (int s = 0; s < m; s++) {
                final M2nSender sender = local.sender(s);
                histograms[s] = new Histogram(1, TimeUnit.SECONDS.toNanos(60), 3);
                final Histogram histogram = histograms[s];
                futures.add(pool.submit(() -> runSender(sender, plan, rows, histogram, config)));
            }
            for (int r = 0; r < n; r++) {
                final M2nReceiver receiver = local.receiver(r);
                futures.add(pool.submit(() -> runReceiver(receiver, plan, rows, config)));
            }
            final long limitNs = TimeUnit.SECONDS.toNanos(JOIN_SLACK_S)
                    + (long) ((config.warmupSeconds() + config.measureSeconds()) * 1e9);
            final long deadlineNs = System.nanoTime() + limitNs;
            for (Future<?> future : futures) {
                future.get(Math.max(1, deadlineNs - System.nanoTime()), TimeUnit.NANOSECONDS);
            }
        } finally {
            pool.shutdownNow();
            pool.awaitTermination(JOIN_SLACK_S, TimeUnit.SECONDS);
        }
        final Histogram all = new Histogram(1, TimeUnit.SECONDS.toNanos(60), 3);
        for (Histogram histogram : histograms) {
            all.add(histogram);
        }
        final double movedBytes = 2.0 * m * n * (double) bytes * plan.measuredSteps();
        return new M2nResult(transport.label(), m, n, bytes, movedBytes / plan.measuredSeconds() / 1e6,
                all.getValueAtPercentile(50) / 1e3, all.getValueAtPercentile(99) / 1e3,
                all.getValueAtPercentile(99.9) / 1e3, plan.measuredSteps());
    }

    /** On a device ({@link M2nBenchConfig#device}) the rows leave device memory before the send and return after. */
    private static Void runSender(M2nSender sender, RunPlan plan, int rows, Histogram histogram, M2nBenchConfig config) {
        final int n = sender.receiverCount();
        final RowBatch batch = new RowBatch(n, n * rows, M2nBenchmark.HIDDEN, Dtype.BF16);
        final int[] counts = new int[n];
        java.util.Arrays.fill(counts, rows);
        batch.layoutContiguous(counts);
        fill(batch, sender.senderId());
        final boolean leader = sender.senderId() == 0;
        try (DeviceStage stage = DeviceStage.open(config.device(), batch)) {
            long step = 0;
            while (true) {
                if (leader) {
                    plan.lead(step, System.nanoTime());
                }
                if (plan.isDone(step)) {
                    break;
                }
                final long startNs = System.nanoTime();
                if (stage != null) {
                    stage.beforeSend(n * rows);
                }
                sender.send(step, 0, 0, batch);
                sender.receiveResults(step, 0, 0, batch); // results land where the inputs were
                if (stage != null) {
                    stage.afterReceive(n * rows);
                }
                final long roundTripNs = System.nanoTime() - startNs;
                if (plan.isMeasured(step)) {
                    histogram.recordValue(roundTripNs);
                }
                step++;
            }
        }
        if (leader) {
            plan.end(System.nanoTime());
        }
        return null;
    }

    /** On a device the gathered rows go to device memory and the results come back from it, as an expert node's do. */
    private static Void runReceiver(M2nReceiver receiver, RunPlan plan, int rows, M2nBenchConfig config) {
        final int m = receiver.senderCount();
        final RowBatch gathered = new RowBatch(m, m * rows, M2nBenchmark.HIDDEN, Dtype.BF16);
        try (DeviceStage stage = DeviceStage.open(config.device(), gathered)) {
            for (long step = 0; !plan.isDone(step); step++) {
                receiver.receive(step, 0, 0, gathered);
                if (stage != null) {
                    stage.afterReceive(m * rows);
                    stage.beforeSend(m * rows);
                }
                receiver.reply(step, 0, 0, gathered); // the experts' results would overwrite the rows in place
            }
        }
        return null;
    }

    /** Random activations (so nothing compresses or short-cuts) and plausible routing. */
    static void fill(RowBatch batch, long seed) {
        final SplittableRandom random = new SplittableRandom(seed);
        final int length = batch.capacityRows() * batch.rowBytes();
        for (int i = 0; i + 8 <= length; i += 8) {
            batch.activations().putLong(i, random.nextLong());
        }
        for (int row = 0; row < batch.capacityRows(); row++) {
            final int offset = RowBatch.routingOffset(row);
            batch.routing().putInt(offset, row);
            batch.routing().putInt(offset + 4, random.nextInt(8));
            batch.routing().putFloat(offset + 8, 0.5f);
        }
    }
}
