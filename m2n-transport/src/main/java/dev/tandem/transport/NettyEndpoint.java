package dev.tandem.transport;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.util.concurrent.EventExecutor;
import org.agrona.concurrent.OneToOneConcurrentArrayQueue;
import org.agrona.concurrent.UnsafeBuffer;

import java.nio.ByteBuffer;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * One side of M2N over Netty/TCP, the measured baseline: one TCP connection per (sender,
 * receiver) pair carries dispatches one way and combines the other. Frames are the same
 * {@link FrameFlyweight}s as over Aeron, each behind a 4-byte big-endian length, and go through
 * the same {@link FrameValidator} and {@link FrameGatherer}.
 * <p>
 * Threads: the event loop decodes frames (retained slices, no copy: the decoder cumulates reads
 * into a composite buffer) and queues them per peer; the caller's thread polls the queues and
 * copies each frame's routing and activations once, into their rows. Sending copies the rows
 * once into pooled direct buffers of at most {@link #MAX_WRITE_CHUNK} bytes, so that even 8 MB
 * frames stay inside the pool's chunks, and hands them to the event loop. A queue holding
 * {@link #PAUSE_READS_AT} frames stops reading from its socket until the caller drains it, so a
 * slow receiver back-pressures its senders through TCP, as a full Aeron term does.
 */
final class NettyEndpoint extends M2nEndpoint
{
    static final int LENGTH_FIELD_LENGTH = 4;
    static final int MAX_WRITE_CHUNK = 1 << 20;       // bytes; below PooledByteBufAllocator's 4 MiB chunks
    private static final int QUEUE_CAPACITY = 4096;    // frames per peer; one read of 64 KiB holds at most ~1300
    private static final int PAUSE_READS_AT = 64;      // frames queued for one peer
    private static final int RESUME_READS_AT = 16;
    private static final int FRAME_LIMIT = 16;         // frames taken from one peer per doWork
    private static final long CLOSE_TIMEOUT_MS = 5_000;

    private final ByteBufAllocator allocator = PooledByteBufAllocator.DEFAULT;
    private final AtomicReferenceArray<Channel> channels;   // (peers), null until connected (and introduced)
    private final AtomicReferenceArray<String> lostReasons; // (peers), null while the peer is fine
    private final java.util.concurrent.atomic.AtomicIntegerArray introduced; // (peers) 1 once its hello is sent or taken
    private final dev.tandem.core.cluster.ClusterToken token; // null: hellos are not signed
    private final long epoch;
    private final OneToOneConcurrentArrayQueue<ByteBuf>[] inbound; // (peers) event loop -> caller
    private final int nodeId;
    private final int maxFrameLength;
    private final UnsafeBuffer writeView = new UnsafeBuffer(0, 0); // caller thread only
    private final UnsafeBuffer readView = new UnsafeBuffer(0, 0);  // caller thread only
    private final ByteBuffer headerBytes = ByteBuffer.allocateDirect(FrameFlyweight.HEADER_LENGTH);
    private final UnsafeBuffer header = new UnsafeBuffer(headerBytes);
    private volatile boolean closed;

    @SuppressWarnings("unchecked")
    NettyEndpoint(final M2nContext ctx, final int nodeId, final boolean attentionSide)
    {
        super(ctx, nodeId, attentionSide, concludedPeerCount(ctx, attentionSide));
        final int peerCount = peerCount();
        this.nodeId = nodeId;
        this.maxFrameLength = (int)Math.max(ctx.maxFrameLength(), HelloFlyweight.LENGTH);
        this.channels = new AtomicReferenceArray<>(peerCount);
        this.lostReasons = new AtomicReferenceArray<>(peerCount);
        this.introduced = new java.util.concurrent.atomic.AtomicIntegerArray(peerCount);
        this.token = ctx.clusterToken();
        this.epoch = ctx.epoch();
        this.inbound = new OneToOneConcurrentArrayQueue[peerCount];
        for (int p = 0; p < peerCount; p++)
        {
            inbound[p] = new OneToOneConcurrentArrayQueue<>(QUEUE_CAPACITY);
            peerNames[p] = (attentionSide ? "receiver " : "sender ") + p + " (tcp)";
        }
    }

    void peerName(final int peer, final String name)
    {
        peerNames[peer] = name;
    }

    /**
     * Set up a data connection's pipeline. {@code peer} is the receiver a sender's connection goes
     * to (the sender then introduces itself when it connects), or -1 on the expert side, where
     * the hello names the sender.
     */
    void initPipeline(final Channel channel, final int peer)
    {
        final LengthFieldBasedFrameDecoder decoder = new LengthFieldBasedFrameDecoder(
            LENGTH_FIELD_LENGTH + maxFrameLength, 0, LENGTH_FIELD_LENGTH, 0, LENGTH_FIELD_LENGTH);
        decoder.setCumulator(ByteToMessageDecoder.COMPOSITE_CUMULATOR); // no copy when a frame spans reads
        channel.pipeline().addLast(decoder, new InboundHandler(peer));
    }

    /** Options for every data connection (client channels, and accepted ones as child options). */
    static RecvByteBufAllocator recvAllocator()
    {
        return new AdaptiveRecvByteBufAllocator(512, 64 * 1024, MAX_WRITE_CHUNK);
    }

    WriteBufferWaterMark writeWaterMark()
    {
        final int high = Math.max(1 << 20, 2 * (LENGTH_FIELD_LENGTH + maxFrameLength));
        return new WriteBufferWaterMark(high / 2, high);
    }

    /** A client channel that connects to {@code peer} (the attention side knows its peers up front). */
    void attach(final int peer, final Channel channel)
    {
        channels.set(peer, channel);
    }

    /** A connection to {@code peer} failed or closed before or without being attached. */
    void lost(final int peer, final String reason)
    {
        lostReasons.compareAndSet(peer, null, reason);
    }

    /** Wait until every peer is connected (and, on the expert side, has introduced itself). */
    void awaitConnected(final long timeoutNs)
    {
        final long deadlineNs = clock.nanoTime() + timeoutNs;
        idle.reset();
        for (int p = 0; p < channels.length(); p++)
        {
            while (!isConnected(p))
            {
                final String reason = lostReasons.get(p);
                if (reason != null)
                {
                    throw new PeerLostException(peerNames[p], reason);
                }
                if (clock.nanoTime() - deadlineNs > 0)
                {
                    throw new PeerLostException(peerNames[p], "not connected within " + millis(timeoutNs) + " ms");
                }
                idle.idle();
            }
        }
    }

    private boolean isConnected(final int peer)
    {
        final Channel channel = channels.get(peer);
        return channel != null && channel.isActive() && introduced.get(peer) == 1;
    }

    /** Send every peer its rows of {@code batch}, empty frames included. */
    @Override
    void publish(final long step, final int layer, final int microBatch, final RowBatch batch)
    {
        ensureOpen();
        for (int p = 0; p < channels.length(); p++)
        {
            final Channel channel = awaitWritable(p);
            channel.writeAndFlush(encode(step, layer, microBatch, batch, p), channel.voidPromise());
        }
    }

    private Channel awaitWritable(final int peer)
    {
        final long startNs = clock.nanoTime();
        idle.reset();
        while (true)
        {
            final Channel channel = channels.get(peer);
            final boolean active = isConnected(peer); // and introduced: no frame goes before the hello
            if (active && channel.isWritable())
            {
                return channel;
            }
            final String reason = lostReasons.get(peer);
            if (reason != null)
            {
                throw new PeerLostException(peerNames[peer], reason);
            }
            final long waitedNs = clock.nanoTime() - startNs;
            if (!active && waitedNs > config.peerTimeoutNs())
            {
                throw new PeerLostException(peerNames[peer], "not connected for " + millis(waitedNs) + " ms");
            }
            if (active && waitedNs > config.sendTimeoutNs())
            {
                throw new BackPressureException(peerNames[peer], "not writable for " + millis(waitedNs) + " ms");
            }
            idle.idle();
        }
    }

    /** Length prefix and frame in pooled direct memory: the one copy of the activations on this side. */
    private ByteBuf encode(final long step, final int layer, final int microBatch, final RowBatch batch, final int peer)
    {
        final int frameLength = FrameWriter.frameLength(batch, peer);
        if (LENGTH_FIELD_LENGTH + frameLength <= MAX_WRITE_CHUNK)
        {
            final ByteBuf buf = allocator.directBuffer(LENGTH_FIELD_LENGTH + frameLength);
            buf.writeInt(frameLength);
            wrap(writeView, buf, LENGTH_FIELD_LENGTH, frameLength);
            writer.writeFrame(writeView, 0, step, layer, microBatch, batch, peer);
            return buf.writerIndex(LENGTH_FIELD_LENGTH + frameLength);
        }

        final int activationsOffset = FrameFlyweight.activationsOffset(batch.peerRowCount(peer));
        final int activationBytes = frameLength - activationsOffset;
        final CompositeByteBuf frame = allocator.compositeDirectBuffer(2 + activationBytes / MAX_WRITE_CHUNK);
        final ByteBuf head = allocator.directBuffer(LENGTH_FIELD_LENGTH + activationsOffset);
        head.writeInt(frameLength);
        wrap(writeView, head, LENGTH_FIELD_LENGTH, activationsOffset);
        writer.writeHeaderAndRouting(writeView, 0, step, layer, microBatch, batch, peer);
        frame.addComponent(true, head.writerIndex(LENGTH_FIELD_LENGTH + activationsOffset));

        int from = batch.activationOffset(batch.peerRowStart(peer));
        for (int remaining = activationBytes; remaining > 0; )
        {
            final int length = Math.min(remaining, MAX_WRITE_CHUNK);
            final ByteBuf part = allocator.directBuffer(length);
            wrap(writeView, part, 0, length);
            writeView.putBytes(0, batch.activations(), from, length);
            frame.addComponent(true, part.writerIndex(length));
            from += length;
            remaining -= length;
        }
        return frame;
    }

    /** Take the queued frames of each peer whose frame is still missing. */
    @Override
    int doWork()
    {
        int work = 0;
        for (int p = 0; p < inbound.length; p++)
        {
            final OneToOneConcurrentArrayQueue<ByteBuf> queue = inbound[p];
            resumeReadsIfDrained(p, queue);
            for (int i = 0; i < FRAME_LIMIT && gatherer.isPending(p); i++)
            {
                final ByteBuf frame = queue.peek();
                if (frame == null || feed(p, frame) == FrameGatherer.ABORT)
                {
                    break; // nothing queued, or a frame of a later key: it waits in the queue
                }
                queue.poll();
                frame.release();
                work++;
            }
        }
        return work;
    }

    /** Hand one frame to the gatherer: in one piece when contiguous, else one fragment per component. */
    private int feed(final int peer, final ByteBuf frame)
    {
        final int index = frame.readerIndex();
        final int length = frame.readableBytes();
        if (frame.nioBufferCount() == 1)
        {
            wrap(readView, frame, index, length);
            return gatherer.onFragment(peer, readView, 0, length, FrameGatherer.UNFRAGMENTED);
        }

        // The gatherer wants the whole header in the first fragment; a read may have split it.
        final int headerLength = Math.min(length, FrameFlyweight.HEADER_LENGTH);
        headerBytes.clear().limit(headerLength);
        frame.getBytes(index, headerBytes);
        int action = gatherer.onFragment(peer, header, 0, headerLength,
            headerLength == length ? FrameGatherer.UNFRAGMENTED : FrameGatherer.BEGIN_FLAG);
        if (action == FrameGatherer.ABORT || headerLength == length)
        {
            return action;
        }
        final ByteBuffer[] parts = frame.nioBuffers(index + headerLength, length - headerLength);
        for (int i = 0; i < parts.length; i++)
        {
            final ByteBuffer part = parts[i];
            readView.wrap(part, part.position(), part.remaining());
            action = gatherer.onFragment(
                peer, readView, 0, part.remaining(), i == parts.length - 1 ? FrameGatherer.END_FLAG : 0);
        }
        return action;
    }

    private void resumeReadsIfDrained(final int peer, final OneToOneConcurrentArrayQueue<ByteBuf> queue)
    {
        final Channel channel = channels.get(peer);
        if (channel != null && !channel.config().isAutoRead() && queue.size() <= RESUME_READS_AT)
        {
            channel.config().setAutoRead(true); // thread safe: schedules a read on the event loop
        }
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
            final String reason = lostReasons.get(p);
            if (reason != null && inbound[p].isEmpty())
            {
                throw new PeerLostException(peerNames[p], reason);
            }
            if (channels.get(p) == null && waitedNs > config.peerTimeoutNs())
            {
                throw new PeerLostException(peerNames[p], "not connected for " + millis(waitedNs) + " ms");
            }
            checkReceiveTimeout(p, step, layer, microBatch, waitedNs);
        }
    }

    /** Point {@code view} at {@code length} bytes of {@code buf} from {@code index}; no copy. */
    private static void wrap(final UnsafeBuffer view, final ByteBuf buf, final int index, final int length)
    {
        if (buf.hasMemoryAddress())
        {
            view.wrap(buf.memoryAddress() + index, length);
        }
        else
        {
            final ByteBuffer nio = buf.internalNioBuffer(index, length);
            view.wrap(nio, nio.position(), length);
        }
    }

    @Override
    void ensureOpen()
    {
        if (closed)
        {
            throw new IllegalStateException("closed");
        }
    }

    /**
     * Close every connection, wait (bounded) until their event loops are past any frame they were
     * queueing, then release what is still queued. Call from the thread that drives this endpoint,
     * or after it stopped.
     */
    @Override
    public void close()
    {
        if (closed)
        {
            return;
        }
        closed = true;
        final Map<EventExecutor, Boolean> loops = new IdentityHashMap<>();
        for (int p = 0; p < channels.length(); p++)
        {
            final Channel channel = channels.get(p);
            if (channel != null)
            {
                channel.close().awaitUninterruptibly(CLOSE_TIMEOUT_MS);
                loops.put(channel.eventLoop(), Boolean.TRUE);
            }
        }
        for (final EventExecutor loop : loops.keySet())
        {
            if (!loop.inEventLoop() && !loop.isShuttingDown())
            {
                loop.submit(() -> { }).awaitUninterruptibly(CLOSE_TIMEOUT_MS); // a barrier behind queued reads
            }
        }
        for (final OneToOneConcurrentArrayQueue<ByteBuf> queue : inbound)
        {
            ByteBuf frame;
            while ((frame = queue.poll()) != null)
            {
                frame.release();
            }
        }
    }

    /**
     * Queues the frames of one connection for the caller. The receiver opens each connection with
     * a challenge ({@link HelloAuth}), which the sender answers with its {@link HelloFlyweight}
     * before any frame. On the expert side the hello must be the first message: anything else, or
     * a second connection from a connected sender, is counted as {@link FrameCheck#UNKNOWN_PEER},
     * a hello not signed with the cluster token (where there is one) as
     * {@link FrameCheck#UNAUTHENTICATED}, and the connection closed.
     */
    private final class InboundHandler extends ChannelInboundHandlerAdapter
    {
        private final HelloFlyweight hello = new HelloFlyweight();
        private final UnsafeBuffer helloView = new UnsafeBuffer(0, 0); // event loop only
        private int peer;
        private byte[] challenge;     // the receiver's, sent when the connection came up
        private boolean introducedHere; // the hello has gone (sender) or come (receiver)

        InboundHandler(final int peer)
        {
            this.peer = peer;
        }

        @Override
        public void channelRead(final ChannelHandlerContext ctx, final Object msg)
        {
            final ByteBuf frame = (ByteBuf)msg;
            if (peer < 0)
            {
                onHello(ctx, frame);
                return;
            }
            if (!introducedHere)
            {
                onChallenge(ctx, frame);
                return;
            }
            if (closed)
            {
                frame.release();
                return;
            }
            final OneToOneConcurrentArrayQueue<ByteBuf> queue = inbound[peer];
            if (!queue.offer(frame))
            {
                frame.release();
                lost(peer, "receive queue overflow (" + QUEUE_CAPACITY + " frames)");
                ctx.close();
                return;
            }
            if (queue.size() >= PAUSE_READS_AT)
            {
                ctx.channel().config().setAutoRead(false); // the caller resumes reads once it drains
            }
        }

        private void onHello(final ChannelHandlerContext ctx, final ByteBuf frame)
        {
            final int length = frame.readableBytes();
            int senderId = -1;
            boolean signed = false;
            if (length == HelloFlyweight.LENGTH && challenge != null)
            {
                wrap(helloView, frame, frame.readerIndex(), length);
                senderId = hello.wrap(helloView, 0).validSenderId(length, nodeId, inbound.length);
                signed = senderId >= 0 &&
                    (token == null || hello.signatureIs(HelloAuth.sign(token, challenge, senderId, nodeId, epoch)));
            }
            frame.release();
            final Channel existing = senderId < 0 ? null : channels.get(senderId);
            if (senderId >= 0 && !signed)
            {
                counters.increment(FrameCheck.UNAUTHENTICATED);
                ctx.close();
                return;
            }
            if (senderId < 0 || (existing != null && existing.isActive()))
            {
                counters.increment(FrameCheck.UNKNOWN_PEER);
                ctx.close();
                return;
            }
            peer = senderId;
            introducedHere = true;
            lostReasons.set(senderId, null);
            channels.set(senderId, ctx.channel());
            introduced.set(senderId, 1);
        }

        /** A sender's connection: the receiver's challenge, answered with our signed hello before any frame. */
        private void onChallenge(final ChannelHandlerContext ctx, final ByteBuf frame)
        {
            final int length = frame.readableBytes();
            wrap(helloView, frame, frame.readerIndex(), length);
            final byte[] theirs = HelloAuth.readChallenge(helloView, 0, length);
            frame.release();
            if (theirs == null)
            {
                lost(peer, "it did not open with an M2N challenge (" + length + " bytes): another Tandem version?");
                ctx.close();
                return;
            }
            final ByteBuf buf = ctx.alloc().directBuffer(LENGTH_FIELD_LENGTH + HelloFlyweight.LENGTH);
            buf.writeInt(HelloFlyweight.LENGTH);
            wrap(helloView, buf, LENGTH_FIELD_LENGTH, HelloFlyweight.LENGTH);
            hello.wrap(helloView, 0).write(nodeId, peer).signature(HelloAuth.sign(token, theirs, nodeId, peer, epoch));
            ctx.writeAndFlush(buf.writerIndex(LENGTH_FIELD_LENGTH + HelloFlyweight.LENGTH), ctx.voidPromise());
            introducedHere = true;
            introduced.set(peer, 1); // frames from the caller queue behind the hello on this event loop
        }

        @Override
        public void channelActive(final ChannelHandlerContext ctx)
        {
            if (peer < 0) // a receiver's connection: challenge the sender, whose hello must sign it
            {
                final ByteBuf buf = ctx.alloc().directBuffer(LENGTH_FIELD_LENGTH + HelloAuth.CHALLENGE_LENGTH);
                buf.writeInt(HelloAuth.CHALLENGE_LENGTH);
                wrap(helloView, buf, LENGTH_FIELD_LENGTH, HelloAuth.CHALLENGE_LENGTH);
                challenge = HelloAuth.writeChallenge(helloView, 0);
                ctx.writeAndFlush(buf.writerIndex(LENGTH_FIELD_LENGTH + HelloAuth.CHALLENGE_LENGTH), ctx.voidPromise());
            }
            ctx.fireChannelActive();
        }

        @Override
        public void channelInactive(final ChannelHandlerContext ctx)
        {
            if (peer >= 0 && channels.get(peer) == ctx.channel())
            {
                lost(peer, "connection closed");
            }
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(final ChannelHandlerContext ctx, final Throwable cause)
        {
            // A wrong length prefix desynchronises the stream for good: count it and drop the connection.
            if (cause instanceof TooLongFrameException)
            {
                counters.increment(FrameCheck.LENGTH_MISMATCH);
            }
            if (peer >= 0 && channels.get(peer) == ctx.channel())
            {
                lost(peer, "connection failed: " + cause);
            }
            ctx.close();
        }
    }
}
