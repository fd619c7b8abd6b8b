package dev.tandem.transport;

import io.aeron.Aeron;
import io.aeron.ExclusivePublication;
import io.aeron.Image;
import io.aeron.Publication;
import io.aeron.Subscription;
import io.aeron.logbuffer.BufferClaim;
import io.aeron.logbuffer.ControlledFragmentHandler;
import io.aeron.logbuffer.FragmentHandler;
import io.aeron.logbuffer.FrameDescriptor;
import org.agrona.BitUtil;
import org.agrona.BufferUtil;
import org.agrona.DirectBuffer;
import org.agrona.CloseHelper;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * One side of M2N over Aeron: an ExclusivePublication to each peer and one Subscription for
 * the peers' frames. The attention side publishes dispatches and gathers combines into fixed
 * rows; the expert side gathers dispatches in arrival order and publishes combines.
 * <p>
 * Copies per activation byte: one on send (compute buffer to log: {@code tryClaim} under one
 * MTU, {@code offer} of two buffers above it, which Aeron fragments straight from the batch) and
 * one on receive (log to the destination row, by {@link FrameGatherer}; no FragmentAssembler).
 * <p>
 * Rows on a device ({@link RowBatch#onDevice}) copy no byte on the host: a frame goes out as
 * fragments this side claims itself (Aeron's own fragment flags, so any reader reassembles them),
 * the device rows DMA'd into the claims, which are committed once the copies are done; on
 * receive each fragment's activations are DMA'd from the log onto the device, and a poll ends
 * only after its copies are done, since an IPC publication cleans the log up to the reader's
 * position. The term buffers are page-locked as they are met ({@link TermBufferLocks}).
 */
final class AeronEndpoint extends M2nEndpoint
{
    private static final int FRAGMENT_LIMIT = 64; // a 512 KiB frame of 8 KiB fragments in one poll

    private final ExclusivePublication[] publications; // (peers)
    private final Subscription subscription;
    private final Image[] images;                      // (peers) cached, refreshed when closed
    private final int[] peerSessionIds;                // (peers)
    private final long[] notConnectedSinceNs;          // (peers), 0 when connected
    private final ControlledFragmentHandler[] handlers; // (peers)
    private final FragmentHandler strangerHandler;
    private final BufferClaim claim = new BufferClaim();
    private final UnsafeBuffer staging; // header + routing of frames above one MTU
    private final int sessionIdBase;
    private final java.util.function.Consumer<Image> strangerPoll = this::pollIfStranger;
    private int strangerWork;
    private final TermBufferLocks termLocks;
    private final DeviceCopyRuns sendRuns = new DeviceCopyRuns();
    private final BufferClaim[] claims; // a frame's fragments, claimed before its device rows are copied in
    private int fragmentsThisPoll;

    AeronEndpoint(final M2nContext ctx, final Aeron aeron, final int nodeId, final boolean attentionSide)
    {
        super(ctx, nodeId, attentionSide, concludedPeerCount(ctx, attentionSide));
        final M2nTopology topology = ctx.topology();
        final int peerCount = peerCount();
        this.sessionIdBase = topology.sessionIdBase();
        this.staging = new UnsafeBuffer(BufferUtil.allocateDirectAligned(
            FrameFlyweight.activationsOffset(ctx.maxTokensPerPeer()), 64));

        this.publications = new ExclusivePublication[peerCount];
        this.images = new Image[peerCount];
        this.peerSessionIds = new int[peerCount];
        this.notConnectedSinceNs = new long[peerCount];
        this.handlers = new ControlledFragmentHandler[peerCount];
        this.termLocks = new TermBufferLocks(peerCount, ctx.log());
        Subscription sub = null;
        try
        {
            for (int p = 0; p < peerCount; p++)
            {
                final String channel = attentionSide ?
                    topology.dispatchPublicationChannel(nodeId, p, config) :
                    topology.combinePublicationChannel(nodeId, p, config);
                final int streamId = attentionSide ? topology.dispatchStreamId(p) : topology.combineStreamId(p);
                publications[p] = aeron.addExclusivePublication(channel, streamId);
                peerSessionIds[p] = topology.sessionId(p);
                peerNames[p] = (attentionSide ? "receiver " : "sender ") + p + " (" + channel + " stream " + streamId + ")";
                final int peer = p;
                handlers[p] = (buffer, offset, length, header) -> onFragment(peer, buffer, offset, length, header);
            }
            sub = attentionSide ?
                aeron.addSubscription(topology.combineSubscriptionChannel(nodeId), topology.combineStreamId(nodeId)) :
                aeron.addSubscription(topology.dispatchSubscriptionChannel(nodeId), topology.dispatchStreamId(nodeId));
        }
        catch (final RuntimeException ex)
        {
            CloseHelper.quietCloseAll(publications);
            throw ex;
        }
        this.subscription = sub;
        final int maxPayload = peerCount > 0 ? publications[0].maxPayloadLength() : 1;
        this.claims = new BufferClaim[(int)((ctx.maxFrameLength() + maxPayload - 1) / maxPayload)];
        for (int c = 0; c < claims.length; c++)
        {
            claims[c] = new BufferClaim();
        }
        this.strangerHandler = (buffer, offset, length, header) ->
        {
            if ((header.flags() & FrameDescriptor.BEGIN_FRAG_FLAG) != 0)
            {
                counters.increment(FrameCheck.UNKNOWN_PEER);
            }
        };
    }

    /** Wait until every publication is connected and every peer's image is present. */
    void awaitConnected(final long timeoutNs)
    {
        final long deadlineNs = clock.nanoTime() + timeoutNs;
        idle.reset();
        for (int p = 0; p < publications.length; p++)
        {
            while (!publications[p].isConnected() || image(p) == null)
            {
                if (clock.nanoTime() - deadlineNs > 0)
                {
                    throw new PeerLostException(peerNames[p], "not connected within " + millis(timeoutNs) + " ms" +
                        " (publication connected=" + publications[p].isConnected() + ", image present=" +
                        (image(p) != null) + ")");
                }
                idle.idle();
            }
        }
    }

    @Override
    void publish(final long step, final int layer, final int microBatch, final RowBatch batch)
    {
        for (int p = 0; p < publications.length; p++)
        {
            publishTo(p, step, layer, microBatch, batch);
        }
    }

    @Override
    boolean copiesFromDevice()
    {
        return termLocks.usable();
    }

    @Override
    boolean copiesToDevice()
    {
        return termLocks.usable();
    }

    private void publishTo(final int peer, final long step, final int layer, final int microBatch, final RowBatch batch)
    {
        if (batch.isOnDevice())
        {
            publishFromDevice(peer, step, layer, microBatch, batch);
            return;
        }
        final ExclusivePublication publication = publications[peer];
        final int frameLength = FrameWriter.frameLength(batch, peer);
        final boolean fitsOneFrame = frameLength <= publication.maxPayloadLength();
        int stagedLength = 0;
        if (!fitsOneFrame)
        {
            stagedLength = writer.writeHeaderAndRouting(staging, 0, step, layer, microBatch, batch, peer);
        }

        final long startNs = clock.nanoTime();
        idle.reset();
        while (true)
        {
            final long result;
            if (fitsOneFrame)
            {
                result = publication.tryClaim(frameLength, claim);
                if (result > 0)
                {
                    writer.writeFrame(claim.buffer(), claim.offset(), step, layer, microBatch, batch, peer);
                    claim.commit();
                    return;
                }
            }
            else
            {
                result = publication.offer(
                    staging, 0, stagedLength,
                    batch.activations(), batch.activationOffset(batch.peerRowStart(peer)),
                    batch.peerRowCount(peer) * batch.rowBytes());
                if (result > 0)
                {
                    return;
                }
            }
            onSendFailure(peer, result, clock.nanoTime() - startNs);
            idle.idle();
        }
    }

    /**
     * The frame as fragments of at most one MTU, each claimed, its header and routing bytes written
     * from the staging buffer and its activation bytes DMA'd from the device; committed together
     * once the copies are done (a reader stops at the first uncommitted claim meanwhile).
     */
    private void publishFromDevice(
        final int peer, final long step, final int layer, final int microBatch, final RowBatch batch)
    {
        final ExclusivePublication publication = publications[peer];
        final int frameLength = FrameWriter.frameLength(batch, peer);
        final int headLength = writer.writeHeaderAndRouting(staging, 0, step, layer, microBatch, batch, peer);
        final int maxPayload = publication.maxPayloadLength();
        // where frame byte i would be on the device: only bytes from headLength on are read there
        final long frameOnDevice = batch.deviceAddress() + batch.activationOffset(batch.peerRowStart(peer)) - headLength;
        int claimed = 0;
        boolean committed = false;
        try
        {
            for (int from = 0; from < frameLength; from += maxPayload)
            {
                final int length = Math.min(maxPayload, frameLength - from);
                final BufferClaim claim = claims[claimed];
                final int termOffset = claimFragment(peer, length, claim);
                claimed++;
                final long payload = claim.buffer().addressOffset() + claim.offset();
                final long termBase = claim.buffer().addressOffset() - termOffset;
                termLocks.publicationTerm(batch.deviceCopies(), peer, termBase, publication.termBufferLength());
                final int hostBytes = Math.min(length, Math.max(0, headLength - from));
                if (hostBytes > 0)
                {
                    claim.buffer().putBytes(claim.offset(), staging, from, hostBytes);
                }
                if (hostBytes < length) // into an unlocked term too: the driver then copies through pageable memory
                {
                    sendRuns.add(batch.deviceCopies(), false, payload + hostBytes, frameOnDevice + from + hostBytes,
                        length - hostBytes);
                }
                claim.flags((byte)((from == 0 ? FrameGatherer.BEGIN_FLAG : 0) |
                    (from + length == frameLength ? FrameGatherer.END_FLAG : 0)));
            }
            sendRuns.await();
            for (int c = 0; c < claimed; c++)
            {
                claims[c].commit();
            }
            committed = true;
        }
        finally
        {
            if (!committed)
            {
                sendRuns.await();
                for (int c = 0; c < claimed; c++)
                {
                    claims[c].abort(); // padding: the log stays readable
                }
            }
        }
    }

    /** Claim {@code length} bytes of {@code peer}'s publication, waiting out back pressure; @return the claim's term offset. */
    private int claimFragment(final int peer, final int length, final BufferClaim claim)
    {
        final ExclusivePublication publication = publications[peer];
        final long startNs = clock.nanoTime();
        idle.reset();
        while (true)
        {
            final int termOffset = publication.termOffset();
            final long result = publication.tryClaim(length, claim);
            if (result > 0)
            {
                return termOffset;
            }
            onSendFailure(peer, result, clock.nanoTime() - startNs);
            idle.idle();
        }
    }

    /**
     * A fragment of {@code peer}'s stream to the gatherer. With DMAs onto a device queued, a
     * fragment that may be the poll's last waits for them: when the poll returns, Aeron moves the
     * reader's position past the fragments, and an IPC publication may clean them at once.
     */
    private ControlledFragmentHandler.Action onFragment(
        final int peer, final DirectBuffer buffer, final int offset, final int length, final io.aeron.logbuffer.Header header)
    {
        if (gatherer.copiesToDevice())
        {
            gatherer.sourceRegistered(termLocks.imageTerm(gatherer.deviceCopies(), peer, buffer.addressOffset(),
                buffer.capacity()));
        }
        final int action = gatherer.onFragment(peer, buffer, offset, length, header.flags());
        fragmentsThisPoll++;
        if (gatherer.hasPendingDeviceCopies() && (action != FrameGatherer.CONTINUE || mayEndPoll(buffer, offset, length)))
        {
            gatherer.awaitDeviceCopies();
        }
        return toAction(action);
    }

    /** Whether {@link Image#controlledPoll} may stop after this fragment: its limit, the term's end, or nothing (or padding) next. */
    private boolean mayEndPoll(final DirectBuffer buffer, final int offset, final int length)
    {
        if (fragmentsThisPoll >= FRAGMENT_LIMIT)
        {
            return true;
        }
        final int next = offset - io.aeron.protocol.DataHeaderFlyweight.HEADER_LENGTH +
            BitUtil.align(length + io.aeron.protocol.DataHeaderFlyweight.HEADER_LENGTH, FrameDescriptor.FRAME_ALIGNMENT);
        if (next >= buffer.capacity())
        {
            return true;
        }
        final UnsafeBuffer term = (UnsafeBuffer)buffer; // an image hands its handler the term buffer itself
        return term.getIntVolatile(next) <= 0 || FrameDescriptor.isPaddingFrame(term, next);
    }

    private void onSendFailure(final int peer, final long result, final long waitedNs)
    {
        if (result == Publication.NOT_CONNECTED)
        {
            if (waitedNs > config.peerTimeoutNs())
            {
                throw new PeerLostException(peerNames[peer], "publication not connected for " + millis(waitedNs) + " ms");
            }
        }
        else if (result == Publication.BACK_PRESSURED || result == Publication.ADMIN_ACTION)
        {
            if (isImageLost(peer))
            {
                throw new PeerLostException(peerNames[peer], "image unavailable while back-pressured");
            }
            if (waitedNs > config.sendTimeoutNs())
            {
                throw new BackPressureException(peerNames[peer], "back-pressured for " + millis(waitedNs) + " ms");
            }
        }
        else
        {
            throw new PeerLostException(peerNames[peer], "publication failed: " + Publication.errorString(result));
        }
    }

    /** Poll each peer whose frame is still missing, and drain streams from unknown publishers. */
    @Override
    int doWork()
    {
        int work = 0;
        for (int p = 0; p < images.length; p++)
        {
            if (gatherer.isPending(p))
            {
                final Image image = image(p);
                if (image != null)
                {
                    fragmentsThisPoll = 0;
                    work += image.controlledPoll(handlers[p], FRAGMENT_LIMIT);
                }
            }
        }
        strangerWork = 0;
        subscription.forEachImage(strangerPoll); // one snapshot of the images: they come and go meanwhile
        return work + strangerWork;
    }

    /** Drains an image of a session that is no peer of this cluster (a stranger or a dead epoch's process). */
    private void pollIfStranger(final Image image)
    {
        final int peer = image.sessionId() - sessionIdBase;
        if (peer < 0 || peer >= images.length)
        {
            strangerWork += image.poll(strangerHandler, FRAGMENT_LIMIT);
        }
    }

    @Override
    void checkLiveness(final long step, final int layer, final int microBatch, final long waitedNs)
    {
        final long nowNs = clock.nanoTime();
        for (int p = 0; p < images.length; p++)
        {
            if (!gatherer.isPending(p))
            {
                continue;
            }
            if (isImageLost(p))
            {
                throw new PeerLostException(peerNames[p], "image unavailable (peer closed or timed out)");
            }
            if (publications[p].isConnected())
            {
                notConnectedSinceNs[p] = 0;
            }
            else if (notConnectedSinceNs[p] == 0)
            {
                notConnectedSinceNs[p] = nowNs;
            }
            else if (nowNs - notConnectedSinceNs[p] > config.peerTimeoutNs())
            {
                throw new PeerLostException(peerNames[p], "publication to it not connected for " +
                    millis(nowNs - notConnectedSinceNs[p]) + " ms");
            }
            checkReceiveTimeout(p, step, layer, microBatch, waitedNs);
        }
    }

    /** @return true when this peer had an image that has since closed or reached end of stream. */
    private boolean isImageLost(final int peer)
    {
        final Image cached = images[peer];
        if (cached == null)
        {
            return false;
        }
        if (cached.isClosed())
        {
            images[peer] = null;
            termLocks.imageGone(peer);
            return image(peer) == null; // no replacement image from the same peer
        }
        return cached.isEndOfStream();
    }

    private Image image(final int peer)
    {
        Image image = images[peer];
        if (image == null || image.isClosed())
        {
            if (image != null)
            {
                termLocks.imageGone(peer);
            }
            image = subscription.imageBySessionId(peerSessionIds[peer]);
            if (image != null)
            {
                images[peer] = image;
            }
        }
        return image;
    }

    private static ControlledFragmentHandler.Action toAction(final int gathererAction)
    {
        return switch (gathererAction)
        {
            case FrameGatherer.BREAK -> ControlledFragmentHandler.Action.BREAK;
            case FrameGatherer.ABORT -> ControlledFragmentHandler.Action.ABORT;
            default -> ControlledFragmentHandler.Action.CONTINUE;
        };
    }

    @Override
    public void close()
    {
        // Aeron's close is idempotent; the aligned staging buffer is a slice, freed by GC, not BufferUtil.free.
        termLocks.close(); // while the logs are still mapped
        CloseHelper.closeAll(subscription);
        CloseHelper.closeAll(publications);
    }
}
