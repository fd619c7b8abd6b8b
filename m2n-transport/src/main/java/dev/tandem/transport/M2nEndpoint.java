package dev.tandem.transport;

import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.NanoClock;

import java.util.concurrent.TimeUnit;

/**
 * What every M2N endpoint (Aeron, Netty, in-process) shares: the frame writer and gatherer of
 * its side, the counters, the epoch, and the gather loop. Subclasses bring the medium: how frames
 * are published, polled ({@link #doWork()}) and how a missing peer is judged lost
 * ({@link #checkLiveness}).
 */
abstract class M2nEndpoint implements AutoCloseable
{
    protected final String[] peerNames; // (peers)
    protected final FrameGatherer gatherer;
    protected final FrameWriter writer;
    protected final TransportCounters counters = new TransportCounters();
    protected final TransportConfig config;
    protected final IdleStrategy idle;
    protected final NanoClock clock;

    M2nEndpoint(final M2nContext ctx, final int nodeId, final boolean attentionSide, final int peerCount)
    {
        this.config = ctx.config();
        this.clock = ctx.nanoClock();
        this.idle = config.pollIdleStrategy().get();
        this.writer = new FrameWriter(
            attentionSide ? FrameFlyweight.TYPE_DISPATCH : FrameFlyweight.TYPE_COMBINE, nodeId, ctx.epoch());
        this.gatherer = new FrameGatherer(
            new FrameValidator(attentionSide ? FrameFlyweight.TYPE_COMBINE : FrameFlyweight.TYPE_DISPATCH,
                ctx.hiddenSize(), ctx.dtype(), peerCount, ctx.maxTokensPerPeer(), ctx.epoch()),
            counters, peerCount, attentionSide ? FrameGatherer.FIXED : FrameGatherer.ARRIVAL_ORDER);
        this.peerNames = new String[peerCount];
    }

    /** Conclude {@code ctx} and return how many peers this side has: receivers for the attention side, else senders. */
    static int concludedPeerCount(final M2nContext ctx, final boolean attentionSide)
    {
        ctx.conclude();
        return attentionSide ? ctx.topology().receiverCount() : ctx.topology().senderCount();
    }

    int peerCount()
    {
        return peerNames.length;
    }

    TransportCounters counters()
    {
        return counters;
    }

    void epoch(final long epoch)
    {
        writer.epoch(epoch);
        gatherer.validator().epoch(epoch);
    }

    /**
     * Send every peer its rows of {@code batch}, empty frames included. Rows on a device go
     * through the batch's pinned staging rows first, unless this endpoint copies them itself.
     */
    final void send(final long step, final int layer, final int microBatch, final RowBatch batch)
    {
        if (batch.isOnDevice() && !copiesFromDevice())
        {
            batch.stageToHost();
        }
        publish(step, layer, microBatch, batch);
    }

    /** Send every peer its rows of {@code batch}: host rows, or device rows where {@link #copiesFromDevice}. */
    abstract void publish(long step, int layer, int microBatch, RowBatch batch);

    /** Whether this endpoint copies a device batch's rows straight into its medium ({@link #publish} handles them). */
    boolean copiesFromDevice()
    {
        return false;
    }

    /** Whether this endpoint's gathers may copy rows straight from its medium onto a device batch. */
    boolean copiesToDevice()
    {
        return false;
    }

    /**
     * Gather one frame from every peer into {@code into}, or fail naming a peer that is lost or late.
     * Into a batch on a device the rows arrive there, straight from the medium or through the
     * batch's staging rows.
     */
    final void gather(final long step, final int layer, final int microBatch, final RowBatch into)
    {
        ensureOpen();
        final boolean direct = into.isOnDevice() && copiesToDevice();
        gatherer.begin(step, layer, microBatch, into, direct);
        final long startNs = clock.nanoTime();
        idle.reset();
        try
        {
            while (!gatherer.isComplete())
            {
                final int work = doWork();
                if (work == 0 && !gatherer.isComplete())
                {
                    checkLiveness(step, layer, microBatch, clock.nanoTime() - startNs);
                }
                idle.idle(work);
            }
        }
        finally
        {
            gatherer.awaitDeviceCopies(); // no DMA may still read a log the caller gives back
        }
        if (into.isOnDevice() && !direct)
        {
            into.stageToDevice();
        }
    }

    /** Feed the gatherer what has arrived from peers whose frame is still missing; @return the work done. */
    abstract int doWork();

    /** Throw naming a pending peer that is lost, or late past the receive timeout. */
    abstract void checkLiveness(long step, int layer, int microBatch, long waitedNs);

    /** Throw if this endpoint was closed; by default an endpoint does not check. */
    void ensureOpen()
    {
    }

    /** Throw for {@code peer} when the gather has waited past the receive timeout. */
    final void checkReceiveTimeout(
        final int peer, final long step, final int layer, final int microBatch, final long waitedNs)
    {
        if (waitedNs > config.receiveTimeoutNs())
        {
            throw new PeerLostException(peerNames[peer], "no frame for step " + step + " layer " + layer +
                " micro-batch " + microBatch + " within " + millis(waitedNs) + " ms" + (counters.rejected() > 0 ?
                "; frames refused: " + counters.reasons() : ""));
        }
    }

    static long millis(final long ns)
    {
        return TimeUnit.NANOSECONDS.toMillis(ns);
    }

    @Override
    public abstract void close();
}
