package dev.tandem.transport;

import org.agrona.concurrent.ControlledMessageHandler;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.NanoClock;
import org.agrona.concurrent.ringbuffer.OneToOneRingBuffer;
import org.agrona.concurrent.ringbuffer.RingBuffer;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * One side of M2N within one process: a one-to-one ring per (this node, peer) and direction,
 * carrying the same frames as Aeron and read by the same {@link FrameGatherer}. Copies per
 * activation byte: two (batch to ring on send, ring to destination row on receive).
 */
final class InProcessEndpoint
{
    static final int MSG_TYPE_ID = 1;
    private static final int MESSAGE_LIMIT = 16;

    private final RingBuffer[] outbound; // (peers) this node -> peer
    private final RingBuffer[] inbound;  // (peers) peer -> this node
    private final AtomicIntegerArray peerClosed;
    private final AtomicIntegerArray selfClosed;
    private final int nodeId;
    private final String[] peerNames;
    private final ControlledMessageHandler[] handlers;
    private final FrameGatherer gatherer;
    private final FrameWriter writer;
    private final TransportCounters counters = new TransportCounters();
    private final TransportConfig config;
    private final IdleStrategy idle;
    private final NanoClock clock;

    InProcessEndpoint(
        final M2nContext ctx, final int nodeId, final boolean attentionSide,
        final OneToOneRingBuffer[] outbound, final OneToOneRingBuffer[] inbound,
        final AtomicIntegerArray selfClosed, final AtomicIntegerArray peerClosed)
    {
        final int peerCount = outbound.length;
        this.outbound = outbound;
        this.inbound = inbound;
        this.selfClosed = selfClosed;
        this.peerClosed = peerClosed;
        this.nodeId = nodeId;
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
        this.handlers = new ControlledMessageHandler[peerCount];
        for (int p = 0; p < peerCount; p++)
        {
            peerNames[p] = (attentionSide ? "receiver " : "sender ") + p + " (in-process)";
            final int peer = p;
            handlers[p] = (msgTypeId, buffer, index, length) -> toAction(
                gatherer.onFragment(peer, buffer, index, length, FrameGatherer.UNFRAGMENTED));
        }
    }

    int peerCount()
    {
        return outbound.length;
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

    void publish(final long step, final int layer, final int microBatch, final RowBatch batch)
    {
        ensureOpen();
        for (int p = 0; p < outbound.length; p++)
        {
            final RingBuffer ring = outbound[p];
            final int frameLength = FrameWriter.frameLength(batch, p);
            final long startNs = clock.nanoTime();
            idle.reset();
            int index;
            while ((index = ring.tryClaim(MSG_TYPE_ID, frameLength)) < 0)
            {
                if (peerClosed.get(p) != 0)
                {
                    throw new PeerLostException(peerNames[p], "closed");
                }
                final long waitedNs = clock.nanoTime() - startNs;
                if (waitedNs > config.sendTimeoutNs())
                {
                    throw new BackPressureException(peerNames[p], "ring full for " + millis(waitedNs) + " ms");
                }
                idle.idle();
            }
            if (peerClosed.get(p) != 0)
            {
                ring.abort(index);
                throw new PeerLostException(peerNames[p], "closed");
            }
            writer.writeFrame(ring.buffer(), index, step, layer, microBatch, batch, p);
            ring.commit(index);
        }
    }

    void gather(final long step, final int layer, final int microBatch, final RowBatch into)
    {
        ensureOpen();
        gatherer.begin(step, layer, microBatch, into);
        final long startNs = clock.nanoTime();
        idle.reset();
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

    int doWork()
    {
        int work = 0;
        for (int p = 0; p < inbound.length; p++)
        {
            if (gatherer.isPending(p))
            {
                work += inbound[p].controlledRead(handlers[p], MESSAGE_LIMIT);
            }
        }
        return work;
    }

    private void checkLiveness(final long step, final int layer, final int microBatch, final long waitedNs)
    {
        for (int p = 0; p < inbound.length; p++)
        {
            if (!gatherer.isPending(p))
            {
                continue;
            }
            if (peerClosed.get(p) != 0 && inbound[p].size() == 0)
            {
                throw new PeerLostException(peerNames[p], "closed");
            }
            if (waitedNs > config.receiveTimeoutNs())
            {
                throw new PeerLostException(peerNames[p], "no frame for step " + step + " layer " + layer +
                    " micro-batch " + microBatch + " within " + millis(waitedNs) + " ms");
            }
        }
    }

    private void ensureOpen()
    {
        if (selfClosed.get(nodeId) != 0)
        {
            throw new IllegalStateException("closed");
        }
    }

    void close()
    {
        selfClosed.set(nodeId, 1);
    }

    private static ControlledMessageHandler.Action toAction(final int gathererAction)
    {
        return switch (gathererAction)
        {
            case FrameGatherer.BREAK -> ControlledMessageHandler.Action.BREAK;
            case FrameGatherer.ABORT -> ControlledMessageHandler.Action.ABORT;
            default -> ControlledMessageHandler.Action.CONTINUE;
        };
    }

    private static long millis(final long ns)
    {
        return TimeUnit.NANOSECONDS.toMillis(ns);
    }
}
