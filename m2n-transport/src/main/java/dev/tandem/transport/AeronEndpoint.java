package dev.tandem.transport;

import dev.tandem.core.compute.DeviceCopies;
import io.aeron.Aeron;
import io.aeron.ExclusivePublication;
import io.aeron.Image;
import io.aeron.Publication;
import io.aeron.Subscription;
import io.aeron.logbuffer.BufferClaim;
import io.aeron.logbuffer.ControlledFragmentHandler;
import io.aeron.logbuffer.FragmentHandler;
import io.aeron.logbuffer.FrameDescriptor;
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
 * Rows on a device ({@link RowBatch#onDevice}) copy no byte on the host: every peer's frame goes
 * out as fragments this side claims itself ({@link DeviceFramePublisher}), the device rows DMA'd
 * into the claims, all committed after one wait for the copies; on receive each pending peer's
 * image is peeked, its fragments' activations DMA'd from the log onto the device, and the images
 * move past them after one wait for all the copies, since an IPC publication cleans the log up to
 * the reader's position. The term buffers are page-locked as they are met ({@link TermBufferLocks}).
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
    private final DeviceFramePublisher devicePublisher;
    private final Image[] peekImages;   // (peers) the image a device gather peeks
    private final long[] peekPositions; // (peers) how far it was read; the image moves there once its copies are done

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
        this.peekImages = new Image[peerCount];
        this.peekPositions = new long[peerCount];
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
        this.devicePublisher = new DeviceFramePublisher(termLocks, maxPayload,
            (long)peerCount * ctx.maxFrameLength(), peerCount, clock, idle,
            (peer, result, waitedNs) -> onSendFailure(peer, result, waitedNs));
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
        if (batch.isOnDevice() && copiesFromDevice()) // else M2nEndpoint.send staged the rows to the host
        {
            publishFromDevice(step, layer, microBatch, batch);
            return;
        }
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

    /** Every peer's frame straight from the device rows ({@link DeviceFramePublisher}). */
    private void publishFromDevice(final long step, final int layer, final int microBatch, final RowBatch batch)
    {
        final DeviceCopies copies = batch.deviceCopies();
        boolean sent = false;
        try
        {
            for (int p = 0; p < publications.length; p++)
            {
                final int headLength = writer.writeHeaderAndRouting(staging, 0, step, layer, microBatch, batch, p);
                // where frame byte i would be on the device: only bytes from headLength on are read there
                final long frameOnDevice = batch.deviceAddress() + batch.activationOffset(batch.peerRowStart(p)) - headLength;
                devicePublisher.add(publications[p], p, copies, staging, headLength, frameOnDevice,
                    FrameWriter.frameLength(batch, p));
            }
            devicePublisher.commitAll(copies);
            sent = true;
        }
        finally
        {
            if (!sent)
            {
                devicePublisher.abortAll();
            }
        }
    }

    /**
     * A fragment of {@code peer}'s stream to the gatherer. Onto a device, the gather peeks
     * ({@link #peekOntoDevice}): the fragment's end is where the image may move once its copies are done.
     */
    private ControlledFragmentHandler.Action onFragment(
        final int peer, final DirectBuffer buffer, final int offset, final int length, final io.aeron.logbuffer.Header header)
    {
        final boolean ontoDevice = gatherer.gathersOntoDevice();
        if (ontoDevice)
        {
            gatherer.sourceRegistered(termLocks.imageTerm(gatherer.deviceCopies(), peer, buffer.addressOffset(),
                buffer.capacity()));
        }
        final int action = gatherer.onFragment(peer, buffer, offset, length, header.flags());
        if (ontoDevice && action != FrameGatherer.ABORT)
        {
            peekPositions[peer] = header.position();
        }
        return toAction(action);
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
        if (gatherer.gathersOntoDevice())
        {
            work = peekOntoDevice();
        }
        else
        {
            for (int p = 0; p < images.length; p++)
            {
                if (gatherer.isPending(p))
                {
                    final Image image = image(p);
                    if (image != null)
                    {
                        work += image.controlledPoll(handlers[p], FRAGMENT_LIMIT);
                    }
                }
            }
        }
        strangerWork = 0;
        subscription.forEachImage(strangerPoll); // one snapshot of the images: they come and go meanwhile
        return work + strangerWork;
    }

    /**
     * Onto a device: every pending peer's image is peeked (read without moving its position) and its
     * fragments' activations queued as DMAs out of the log; once those are done, in one wait for
     * all of them, each image moves past what was read. An IPC publication cleans its log up to the
     * reader's position, so no position moves before the copies out of it are done.
     */
    private int peekOntoDevice()
    {
        int work = 0;
        for (int p = 0; p < images.length; p++)
        {
            if (gatherer.isPending(p))
            {
                final Image image = image(p);
                if (image != null)
                {
                    if (peekImages[p] != image)
                    {
                        peekImages[p] = image;
                        peekPositions[p] = image.position();
                    }
                    final long from = Math.max(peekPositions[p], image.position()); // a host gather may have polled it since
                    peekPositions[p] = from;
                    // within the term: an image moves at most to the end of its current term at once
                    final long termEnd = (from | (image.termBufferLength() - 1)) + 1;
                    final long end = image.controlledPeek(from, handlers[p], termEnd);
                    peekPositions[p] = Math.max(peekPositions[p], end); // end: past padding at a term's end too
                    work += peekPositions[p] != from ? 1 : 0;
                }
            }
        }
        if (gatherer.hasPendingDeviceCopies())
        {
            gatherer.awaitDeviceCopies();
        }
        for (int p = 0; p < images.length; p++)
        {
            final Image image = peekImages[p];
            if (image != null && !image.isClosed() && peekPositions[p] > image.position())
            {
                image.position(peekPositions[p]);
            }
        }
        return work;
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
