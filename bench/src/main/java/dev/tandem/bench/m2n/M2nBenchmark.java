package dev.tandem.bench.m2n;

import dev.tandem.bench.m2n.M2nBenchConfig.Shape;
import org.agrona.concurrent.BusySpinIdleStrategy;
import dev.tandem.transport.Dtype;
import dev.tandem.transport.FrameFlyweight;
import dev.tandem.transport.NettyNode;
import dev.tandem.transport.TransportConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
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
    private static final int MAX_UDP_MTU = 65_504; // Aeron's largest; loopback carries 64 KiB datagrams
    private static final int UDP_WINDOW = 2 << 20;

    /** @param results measured rows; @param skipped configurations not run, and why. */
    public record Run(List<M2nResult> results, List<String> skipped) {
    }

    private M2nBenchmark() {
    }

    /**
     * Run every configuration {@link M2nBenchConfig#repeats()} times and keep, per row, the run
     * with the median throughput (whole, so that its percentiles belong to it). {@code progress}
     * gets one line per run (for stderr).
     */
    public static Run run(M2nBenchConfig config, Consumer<String> progress) {
        final List<M2nResult> results = new ArrayList<>();
        final List<String> skipped = new ArrayList<>();
        progress.accept("Java " + Runtime.version() + ", " + Runtime.getRuntime().availableProcessors() + " cores, Netty "
                + (NettyNode.epollAvailable() ? "epoll" : "NIO") + "; round trips of " + HIDDEN + "-element bf16 rows; "
                + config.repeats() + " run(s) per row; the nodes' threads busy-spin where the cores allow"
                + " (M + N + " + SPARE_CORES + " ≤ cores), else back off to parks");
        for (Shape shape : config.shapes()) {
            for (int bytes : config.sizes()) {
                final List<Transport> runnable = new ArrayList<>();
                for (Transport transport : config.transports()) {
                    final long logMiB = aeronLogMiB(transport, shape, bytes);
                    if (logMiB > config.aeronLogBudgetMiB()) {
                        final String why = name(transport, shape, bytes) + ": skipped, its Aeron logs need " + logMiB
                                + " MiB (budget " + config.aeronLogBudgetMiB() + " MiB)";
                        skipped.add(why);
                        progress.accept(why);
                    } else {
                        runnable.add(transport);
                    }
                }
                final List<List<M2nResult>> runs = new ArrayList<>();
                runnable.forEach(t -> runs.add(new ArrayList<>()));
                for (int repeat = 0; repeat < config.repeats(); repeat++) { // transports take turns
                    for (int t = 0; t < runnable.size(); t++) {
                        runOnce(runnable.get(t), shape, bytes, config, progress).ifPresent(runs.get(t)::add);
                    }
                }
                for (int t = 0; t < runnable.size(); t++) {
                    final List<M2nResult> rows = runs.get(t);
                    if (rows.isEmpty()) {
                        skipped.add(name(runnable.get(t), shape, bytes) + ": failed in every run (see stderr)");
                    } else {
                        rows.sort(Comparator.comparingDouble(M2nResult::throughputMbS));
                        results.add(rows.get((rows.size() - 1) / 2));
                    }
                }
            }
        }
        return new Run(results, skipped);
    }

    private static Optional<M2nResult> runOnce(
            Transport transport, Shape shape, int bytes, M2nBenchConfig config, Consumer<String> progress) {
        final String name = name(transport, shape, bytes);
        try {
            final M2nResult result = transport == Transport.MEMCPY
                    ? MemcpyRun.run(shape.m(), shape.n(), bytes, config)
                    : RoundTripRun.run(transport, shape.m(), shape.n(), bytes, config,
                            transportConfig(transport, bytes, shape.m() + shape.n()));
            progress.accept(String.format(Locale.ROOT,
                    "%s: %.0f MB/s, p50 %.1f us, p99 %.1f us, p99.9 %.1f us (%d round trips)", name,
                    result.throughputMbS(), result.p50Us(), result.p99Us(), result.p999Us(), result.roundTrips()));
            return Optional.of(result);
        } catch (Exception ex) {
            progress.accept(name + ": failed: " + ex);
            return Optional.empty();
        } finally {
            System.gc(); // free this run's direct buffers before the next allocates its own
        }
    }

    private static String name(Transport transport, Shape shape, int bytes) {
        return transport.label() + " " + shape + " " + bytes + " B";
    }

    /** @return the largest frame for this size: header, routing, activations. */
    static long frameLength(int bytes) {
        return FrameFlyweight.frameLength(bytes / ROW_BYTES, HIDDEN, Dtype.BF16);
    }

    /**
     * Tuning for the benchmark from {@link TransportConfig#defaults()} (SHARED driver, callers back
     * off to 100 µs parks), plus what large frames need:
     * <ul>
     *   <li>where the machine has a core for each of the {@code nodes} threads and {@value #SPARE_CORES}
     *       more (the driver, the harness), every thread busy-spins: a parked receiver wakes up
     *       50-100 µs after its frame arrived, more than a 256 KB frame takes to move;</li>
     *   <li>terms of eight of the largest frame (Aeron's largest message is a term / 8);</li>
     *   <li>logs allocated and touched when they are mapped: with sparse logs every configuration
     *       measured page faults until it had written 3 terms of every log (4x4 at 1 MB: 768 MiB,
     *       p50 22 ms against 0.9 ms at 2x2);</li>
     *   <li>IPC: the largest MTU, as the cluster's nodes use on one host ({@code -Dtandem.m2n.ipcMtu} varies it;
     *       session 12 on the H200: 2×2 at 256 KB from the device 12015 and 12278 MB/s against 8700 to 11510 at
     *       8 KiB; on this CPU no different), and a publication window of a whole term,
     *       so a publisher waits less often for the driver's conductor to move its limit;</li>
     *   <li>UDP on loopback: 64 KiB datagrams (as large as the term allows), and a receiver
     *       window and socket buffers of {@value #UDP_WINDOW} bytes (at most the kernel's
     *       rmem_max): with Aeron's 128 KiB defaults a 256 KB frame waits for several status
     *       messages, and 2x2 at 256 KB moved 30 MB/s instead of 600;</li>
     *   <li>timeouts of seconds, so that a broken configuration fails fast.</li>
     * </ul>
     */
    static final int SPARE_CORES = 2;

    /**
     * Terms of {@code -Dtandem.m2n.termFrames} of the largest frame (default and least 8, Aeron's
     * limit on a message), rounded up to a power of two: a knob for what term rotation costs.
     */
    private static final int TERM_FRAMES = Math.max(TransportConfig.TERM_TO_FRAME_RATIO,
            Integer.getInteger("tandem.m2n.termFrames", TransportConfig.TERM_TO_FRAME_RATIO));

    private static int termLength(long frameLength) {
        return TransportConfig.termLengthFor(frameLength * TERM_FRAMES / TransportConfig.TERM_TO_FRAME_RATIO);
    }

    static TransportConfig transportConfig(Transport transport, int bytes, int nodes) {
        final int term = termLength(frameLength(bytes));
        final String spinFlag = System.getProperty("tandem.m2n.spin"); // true/false: override the cores' verdict
        final boolean spin = spinFlag != null ? Boolean.parseBoolean(spinFlag)
                : nodes + SPARE_CORES <= Runtime.getRuntime().availableProcessors();
        final int mtu = transport == Transport.AERON_UDP ? MAX_UDP_MTU
                : Integer.getInteger("tandem.m2n.ipcMtu", TransportConfig.MAX_MTU_LENGTH);
        final int window = (int) Math.min(UDP_WINDOW, kernelReceiveBufferMax());
        final TransportConfig base = spin ? TransportConfig.defaults().withIdleStrategies(
                BusySpinIdleStrategy::new, BusySpinIdleStrategy::new) : TransportConfig.defaults();
        // knobs for where a round trip's time goes: the IPC publication window (the driver zeroes what
        // subscribers consumed each time the window moves an eighth of it), the driver's threads, sparse logs
        final int ipcWindow = Integer.getInteger("tandem.m2n.ipcWindow", term);
        final String threading = System.getProperty("tandem.m2n.threading");
        return (threading == null ? base : base.withThreadingMode(io.aeron.driver.ThreadingMode.valueOf(threading)))
                .withMtuAndTermLength(Math.min(mtu, term / TransportConfig.TERM_TO_FRAME_RATIO), term)
                .withSparseLogs(Boolean.getBoolean("tandem.m2n.sparseLogs"))
                .withTimeouts(TimeUnit.SECONDS.toNanos(5), TimeUnit.SECONDS.toNanos(5), TimeUnit.SECONDS.toNanos(10))
                .withDriverCustomizer(ctx -> {
                    ctx.ipcPublicationTermWindowLength(ipcWindow);
                    if (transport == Transport.AERON_UDP) {
                        ctx.initialWindowLength(window).socketRcvbufLength(window).socketSndbufLength(window);
                    }
                });
    }

    /** @return net.core.rmem_max, or the window we want where it cannot be read. */
    private static long kernelReceiveBufferMax() {
        try (java.io.BufferedReader in = Files.newBufferedReader(Path.of("/proc/sys/net/core/rmem_max"))) {
            return Long.parseLong(in.readLine().trim()); // not Files.readString: /proc files read short that way
        } catch (IOException | RuntimeException ex) {
            return UDP_WINDOW;
        }
    }

    /** @return MiB of Aeron log buffers a configuration maps: a log per publication, and per image over UDP. */
    static long aeronLogMiB(Transport transport, Shape shape, int bytes) {
        final long logs = switch (transport) {
            case AERON_IPC -> 2L * shape.m() * shape.n();      // publication and subscriber share the log
            case AERON_UDP -> 4L * shape.m() * shape.n();      // publications in one driver, images in another
            case NETTY_TCP, MEMCPY -> 0;
        };
        final long logBytes = logs * LOG_TERMS * termLength(frameLength(bytes));
        return (logBytes + (1 << 20) - 1) >> 20;
    }
}
