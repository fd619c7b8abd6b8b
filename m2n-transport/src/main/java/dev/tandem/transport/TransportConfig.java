package dev.tandem.transport;

import io.aeron.driver.MediaDriver;
import io.aeron.driver.ThreadingMode;
import org.agrona.BitUtil;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.BusySpinIdleStrategy;
import org.agrona.concurrent.IdleStrategy;

import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Tuning of the M2N transport. {@link #defaults()} suits a small shared machine (2 cores):
 * one SHARED driver thread and callers that back off to parking, so the driver is never starved.
 * {@link #lowLatency()} is for dedicated, isolated cores: DEDICATED driver threads (conductor,
 * sender, receiver each on its own core) and busy-spinning everywhere; it burns 3 cores for the
 * driver plus one per polling caller, and on fewer cores it is slower than the defaults.
 *
 * @param aeronDirectoryName  external driver's directory, or null to embed a driver with a unique one.
 * @param threadingMode       of an embedded driver.
 * @param driverIdleStrategy  for each thread of an embedded driver.
 * @param pollIdleStrategy    for the caller's send retries and receive loops.
 * @param mtuLength           bytes of one Aeron frame (header included); a multiple of 32, at most 65504
 *                            and at most termLength / 8 (Aeron's largest message).
 * @param termLength          bytes of one term of each log; a power of two in [64 KiB, 1 GiB] and at
 *                            least 8x the largest frame (Aeron's limit on a message is termLength / 8).
 * @param sparseLogs          true: log files are sparse and pages are faulted in as they are first written,
 *                            light on memory; false: logs are allocated in full and their pages touched
 *                            when mapped, so that no page fault lands on the hot path (the first pass
 *                            through 3 terms of every log otherwise pays one per 4 KiB).
 * @param sendTimeoutNs       how long a back-pressured send retries before {@link BackPressureException}.
 * @param peerTimeoutNs       how long a peer may be unreachable (publication not connected, image gone
 *                            in the driver) before {@link PeerLostException}; also the driver's client
 *                            liveness, image liveness and publication connection timeouts, and an
 *                            eighth of it the clients' keep-alive interval.
 * @param receiveTimeoutNs    how long a gather waits for a frame before {@link PeerLostException}.
 * @param driverCustomizer    last say on an embedded driver's context (e.g. loss generators in tests).
 */
public record TransportConfig(
    String aeronDirectoryName,
    ThreadingMode threadingMode,
    Supplier<IdleStrategy> driverIdleStrategy,
    Supplier<IdleStrategy> pollIdleStrategy,
    int mtuLength,
    int termLength,
    boolean sparseLogs,
    long sendTimeoutNs,
    long peerTimeoutNs,
    long receiveTimeoutNs,
    Consumer<MediaDriver.Context> driverCustomizer)
{
    public static final int MIN_TERM_LENGTH = 64 * 1024;
    public static final int MAX_TERM_LENGTH = 1024 * 1024 * 1024;
    public static final int MAX_MTU_LENGTH = 65504;
    /** Aeron caps a message at a term / 8: a term holds at least 8 of the largest frame. */
    public static final int TERM_TO_FRAME_RATIO = 8;

    public TransportConfig
    {
        if (!BitUtil.isPowerOfTwo(termLength) || termLength < MIN_TERM_LENGTH || termLength > MAX_TERM_LENGTH)
        {
            throw new IllegalArgumentException("termLength must be a power of two in [64 KiB, 1 GiB]: " + termLength);
        }
        if (mtuLength < 64 || mtuLength > MAX_MTU_LENGTH || (mtuLength & 31) != 0)
        {
            throw new IllegalArgumentException("mtuLength must be a multiple of 32 in [64, 65504]: " + mtuLength);
        }
        if (mtuLength > termLength / TERM_TO_FRAME_RATIO)
        {
            throw new IllegalArgumentException(
                "mtuLength " + mtuLength + " exceeds termLength / 8 = " + termLength / TERM_TO_FRAME_RATIO);
        }
        if (sendTimeoutNs <= 0 || peerTimeoutNs <= 0 || receiveTimeoutNs <= 0)
        {
            throw new IllegalArgumentException("timeouts must be positive");
        }
    }

    /** Two-core friendly: SHARED driver, back-off to 1 ms parks, 8 KiB MTU, 4 MiB terms. */
    public static TransportConfig defaults()
    {
        return new TransportConfig(
            null,
            ThreadingMode.SHARED,
            () -> new BackoffIdleStrategy(10, 20, TimeUnit.MICROSECONDS.toNanos(1), TimeUnit.MILLISECONDS.toNanos(1)),
            () -> new BackoffIdleStrategy(10, 20, TimeUnit.MICROSECONDS.toNanos(1), TimeUnit.MICROSECONDS.toNanos(100)),
            8192,
            4 * 1024 * 1024,
            true,
            TimeUnit.SECONDS.toNanos(5),
            TimeUnit.MILLISECONDS.toNanos(PEER_TIMEOUT_MS),
            TimeUnit.SECONDS.toNanos(10),
            ctx -> {});
    }

    /**
     * A peer silent this long is gone, as the control plane's heartbeats take a node silent for 800
     * ms: the drivers' client liveness (a killed process on this host), image liveness and publication
     * connection timeouts (a peer across the network), so that a dead node of either role is noticed
     * within a second rather than Aeron's 5 to 10 s.
     */
    public static final long PEER_TIMEOUT_MS = 800;

    /** Dedicated cores: DEDICATED driver threads, busy-spin everywhere, logs allocated up front; otherwise as {@link #defaults()}. */
    public static TransportConfig lowLatency()
    {
        final TransportConfig d = defaults();
        return new TransportConfig(
            d.aeronDirectoryName, ThreadingMode.DEDICATED, BusySpinIdleStrategy::new, BusySpinIdleStrategy::new,
            d.mtuLength, d.termLength, false, d.sendTimeoutNs, d.peerTimeoutNs, d.receiveTimeoutNs, d.driverCustomizer);
    }

    /** @return the smallest legal term length that holds {@link #TERM_TO_FRAME_RATIO} frames of this size. */
    public static int termLengthFor(final long maxFrameLength)
    {
        final long wanted = Math.max(MIN_TERM_LENGTH, maxFrameLength * TERM_TO_FRAME_RATIO);
        if (wanted > MAX_TERM_LENGTH)
        {
            throw new IllegalArgumentException("frame too large for one term: " + maxFrameLength);
        }
        return BitUtil.findNextPositivePowerOfTwo((int)wanted);
    }

    /** @return the largest frame this configuration carries. */
    public int maxFrameLength()
    {
        return termLength / TERM_TO_FRAME_RATIO;
    }

    public TransportConfig withAeronDirectoryName(final String name)
    {
        return new TransportConfig(name, threadingMode, driverIdleStrategy, pollIdleStrategy, mtuLength, termLength,
            sparseLogs, sendTimeoutNs, peerTimeoutNs, receiveTimeoutNs, driverCustomizer);
    }

    public TransportConfig withMtuAndTermLength(final int mtuLength, final int termLength)
    {
        return new TransportConfig(aeronDirectoryName, threadingMode, driverIdleStrategy, pollIdleStrategy, mtuLength,
            termLength, sparseLogs, sendTimeoutNs, peerTimeoutNs, receiveTimeoutNs, driverCustomizer);
    }

    public TransportConfig withTimeouts(final long sendTimeoutNs, final long peerTimeoutNs, final long receiveTimeoutNs)
    {
        return new TransportConfig(aeronDirectoryName, threadingMode, driverIdleStrategy, pollIdleStrategy, mtuLength,
            termLength, sparseLogs, sendTimeoutNs, peerTimeoutNs, receiveTimeoutNs, driverCustomizer);
    }

    public TransportConfig withSparseLogs(final boolean sparseLogs)
    {
        return new TransportConfig(aeronDirectoryName, threadingMode, driverIdleStrategy, pollIdleStrategy, mtuLength,
            termLength, sparseLogs, sendTimeoutNs, peerTimeoutNs, receiveTimeoutNs, driverCustomizer);
    }

    public TransportConfig withThreadingMode(final ThreadingMode threadingMode)
    {
        return new TransportConfig(aeronDirectoryName, threadingMode, driverIdleStrategy, pollIdleStrategy, mtuLength,
            termLength, sparseLogs, sendTimeoutNs, peerTimeoutNs, receiveTimeoutNs, driverCustomizer);
    }

    public TransportConfig withIdleStrategies(
        final Supplier<IdleStrategy> driverIdleStrategy, final Supplier<IdleStrategy> pollIdleStrategy)
    {
        return new TransportConfig(aeronDirectoryName, threadingMode, driverIdleStrategy, pollIdleStrategy, mtuLength,
            termLength, sparseLogs, sendTimeoutNs, peerTimeoutNs, receiveTimeoutNs, driverCustomizer);
    }

    public TransportConfig withDriverCustomizer(final Consumer<MediaDriver.Context> driverCustomizer)
    {
        return new TransportConfig(aeronDirectoryName, threadingMode, driverIdleStrategy, pollIdleStrategy, mtuLength,
            termLength, sparseLogs, sendTimeoutNs, peerTimeoutNs, receiveTimeoutNs, driverCustomizer);
    }
}
