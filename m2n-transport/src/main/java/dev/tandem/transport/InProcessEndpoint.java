package dev.tandem.transport;

import org.agrona.concurrent.ControlledMessageHandler;
import org.agrona.concurrent.ringbuffer.OneToOneRingBuffer;
import org.agrona.concurrent.ringbuffer.RingBuffer;

import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * One side of M2N within one process: a one-to-one ring per (this node, peer) and direction,
 * carrying the same frames as Aeron and read by the same {@link FrameGatherer}. Copies per
 * activation byte: two (batch to ring on send, ring to destination row on receive).
 */
final class InProcessEndpoint extends M2nEndpoint
{
    static final int MSG_TYPE_ID = 1;
    private static final int MESSAGE_LIMIT = 16;

    private final RingBuffer[] outbound; // (peers) this node -> peer
    private final RingBuffer[] inbound;  // (peers) peer -> this node
    private final AtomicIntegerArray peerClosed;
    private final AtomicIntegerArray selfClosed;
    private final int nodeId;
    private final ControlledMessageHandler[] handlers;

    InProcessEndpoint(
        final M2nContext ctx, final int nodeId, final boolean attentionSide,
        final OneToOneRingBuffer[] outbound, final OneToOneRingBuffer[] inbound,
        final AtomicIntegerArray selfClosed, final AtomicIntegerArray peerClosed)
    {
        super(ctx, nodeId, attentionSide, outbound.length);
        final int peerCount = outbound.length;
        this.outbound = outbound;
        this.inbound = inbound;
        this.selfClosed = selfClosed;
        this.peerClosed = peerClosed;
        this.nodeId = nodeId;
        this.handlers = new ControlledMessageHandler[peerCount];
        for (int p = 0; p < peerCount; p++)
        {
            peerNames[p] = (attentionSide ? "receiver " : "sender ") + p + " (in-process)";
            final int peer = p;
            handlers[p] = (msgTypeId, buffer, index, length) -> toAction(
                gatherer.onFragment(peer, buffer, index, length, FrameGatherer.UNFRAGMENTED));
        }
    }

    @Override
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

    @Override
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

    @Override
    void checkLiveness(final long step, final int layer, final int microBatch, final long waitedNs)
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
            checkReceiveTimeout(p, step, layer, microBatch, waitedNs);
        }
    }

    @Override
    void ensureOpen()
    {
        if (selfClosed.get(nodeId) != 0)
        {
            throw new IllegalStateException("closed");
        }
    }

    @Override
    public void close()
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
}
