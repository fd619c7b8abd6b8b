package dev.tandem.bench.m2n;

import dev.tandem.bench.m2n.M2nBenchConfig.Shape;
import dev.tandem.transport.Dtype;
import dev.tandem.transport.FrameFlyweight;
import dev.tandem.transport.TransportConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * {@code tandem bench m2n}: Aeron IPC, Aeron UDP (loopback, a media driver per node) and Netty
 * TCP (loopback, an event loop per node) against a plain memory copy of the same bytes, for
 * every (M, N) and size of the config, in one process. Transports take turns within each
 * (M, N, size), so that background load on a shared machine falls on all of them alike.
 * <p>
 * Rows are {@value #HIDDEN} bf16 elements ({@value #ROW_BYTES} bytes), so that the sizes are
 * whole rows in decimal units (2 KB is one row, 8 MB is 4,000) and an 8 MB frame with its
 * header and routing still fits an Aeron term of 64 MiB.
 */
public final class M2nBenchmark {
    public static final int HIDDEN = 1000;
    public static final int ROW_BYTES = HIDDEN * 2;
    private static final int LOG_TERMS = 3; // an Aeron log holds three terms

    /** @param results measured rows; @param skipped configurations not run, and why. */
    public record Run(List<M2nResult> results, List<String> skipped) {
    }

    private M2nBenchmark() {
    }

    /** Run every configuration; {@code progress} gets one line per configuration (for stderr). */
    public static Run run(M2nBenchConfig config, Consumer<String> progress) {
        final List<M2nResult> results = new ArrayList<>();
        final List<String> skipped = new ArrayList<>();
        for (Shape shape : config.shapes()) {
            for (int bytes : config.sizes()) {
                for (Transport transport : config.transports()) {
                    final String name = transport.label() + " " + shape + " " + bytes + " B";
                    final long logMiB = aeronLogMiB(transport, shape, bytes);
                    if (logMiB > config.aeronLogBudgetMiB()) {
                        final String why = name + ": skipped, its Aeron logs need " + logMiB + " MiB (budget "
                                + config.aeronLogBudgetMiB() + " MiB)";
                        skipped.add(why);
                        progress.accept(why);
                        continue;
                    }
                    try {
                        final M2nResult result = transport == Transport.MEMCPY
                                ? MemcpyRun.run(shape.m(), shape.n(), bytes, config)
                                : RoundTripRun.run(transport, shape.m(), shape.n(), bytes, config,
                                transportConfig(transport, bytes));
                        results.add(result);
                        progress.accept(String.format("%s: %.0f MB/s, p50 %.1f us, p99 %.1f us, p99.9 %.1f us (%d round trips)",
                                name, result.throughputMbS(), result.p50Us(), result.p99Us(), result.p999Us(),
                                result.roundTrips()));
                    } catch (Exception ex) {
                        final String why = name + ": failed: " + ex;
                        skipped.add(why);
                        progress.accept(why);
                    }
                    System.gc(); // free the last configuration's direct buffers before the next allocates its own
                }
            }
        }
        return new Run(results, skipped);
    }

    /** @return the largest frame for this size: header, routing, activations. */
    static long frameLength(int bytes) {
        return FrameFlyweight.frameLength(bytes / ROW_BYTES, HIDDEN, Dtype.BF16);
    }

    /**
     * Tuning for the benchmark on a small shared machine. Terms hold eight of the largest frame
     * (Aeron's rule); everything else as {@link TransportConfig#defaults()} says, except shorter
     * timeouts so that a broken configuration fails fast.
     */
    static TransportConfig transportConfig(Transport transport, int bytes) {
        TransportConfig c = TransportConfig.defaults()
                .withMtuAndTermLength(Integer.getInteger("m2n.mtu", TransportConfig.defaults().mtuLength()),
                        TransportConfig.termLengthFor(frameLength(bytes)))
                .withTimeouts(TimeUnit.SECONDS.toNanos(5), TimeUnit.SECONDS.toNanos(5), TimeUnit.SECONDS.toNanos(10));
        final String driverIdle = System.getProperty("m2n.driverIdle");
        final String pollIdle = System.getProperty("m2n.pollIdle");
        c = c.withIdleStrategies(driverIdle == null ? c.driverIdleStrategy() : idle(driverIdle),
                pollIdle == null ? c.pollIdleStrategy() : idle(pollIdle));
        final int window = Integer.getInteger("m2n.window", 0);
        final boolean ipcWindow = Boolean.getBoolean("m2n.ipcWindow");
        final int term = c.termLength();
        if (window > 0 || ipcWindow) {
            c = c.withDriverCustomizer(ctx -> {
                if (window > 0) {
                    ctx.initialWindowLength(window).socketRcvbufLength(window).socketSndbufLength(window);
                }
                if (ipcWindow) {
                    ctx.ipcPublicationTermWindowLength(term);
                }
            });
        }
        return c;
    }

    private static java.util.function.Supplier<org.agrona.concurrent.IdleStrategy> idle(String spec) {
        final String[] p = spec.split(":");
        return switch (p[0]) {
            case "spin" -> org.agrona.concurrent.BusySpinIdleStrategy::new;
            case "yield" -> org.agrona.concurrent.YieldingIdleStrategy::new;
            case "sleep" -> () -> new org.agrona.concurrent.SleepingIdleStrategy(Long.parseLong(p[1]));
            default -> () -> new org.agrona.concurrent.BackoffIdleStrategy(Long.parseLong(p[1]), Long.parseLong(p[2]),
                    Long.parseLong(p[3]), Long.parseLong(p[4]));
        };
    }

    /** @return MiB of Aeron log buffers a configuration maps: a log per publication, and per image over UDP. */
    static long aeronLogMiB(Transport transport, Shape shape, int bytes) {
        final long logs = switch (transport) {
            case AERON_IPC -> 2L * shape.m() * shape.n();      // publication and subscriber share the log
            case AERON_UDP -> 4L * shape.m() * shape.n();      // publications in one driver, images in another
            case NETTY_TCP, MEMCPY -> 0;
        };
        final long logBytes = logs * LOG_TERMS * TransportConfig.termLengthFor(frameLength(bytes));
        return (logBytes + (1 << 20) - 1) >> 20;
    }
}
