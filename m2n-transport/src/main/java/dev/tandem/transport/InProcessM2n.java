package dev.tandem.transport;

import org.agrona.concurrent.UnsafeBuffer;
import org.agrona.concurrent.ringbuffer.OneToOneRingBuffer;
import org.agrona.concurrent.ringbuffer.RingBufferDescriptor;
import org.agrona.BufferUtil;

import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * Colocated M2N: M senders and N receivers in one process, no Aeron. Every (sender, receiver)
 * pair has a preallocated off-heap one-to-one ring each way, sized for eight of the largest
 * frame, so each sender and receiver may run on its own thread. Frames and validation are the
 * same as over Aeron; only the medium differs, so a colocated deployment runs the same code
 * path as a disaggregated one.
 */
public final class InProcessM2n implements AutoCloseable
{
    private final Sender[] senders;
    private final Receiver[] receivers;
    private final UnsafeBuffer[] ringMemory;

    public InProcessM2n(final M2nContext ctx)
    {
        ctx.conclude();
        final int m = ctx.topology().senderCount();
        final int n = ctx.topology().receiverCount();
        // Agrona caps a ring's message at capacity / 8: the same rule as Aeron's term length.
        final int capacity = TransportConfig.termLengthFor(ctx.maxFrameLength() + 8);

        final OneToOneRingBuffer[][] dispatch = new OneToOneRingBuffer[m][n]; // [sender][receiver]
        final OneToOneRingBuffer[][] combine = new OneToOneRingBuffer[n][m];  // [receiver][sender]
        ringMemory = new UnsafeBuffer[2 * m * n];
        int next = 0;
        for (int s = 0; s < m; s++)
        {
            for (int r = 0; r < n; r++)
            {
                ringMemory[next] = newRingMemory(capacity);
                dispatch[s][r] = new OneToOneRingBuffer(ringMemory[next++]);
                ringMemory[next] = newRingMemory(capacity);
                combine[r][s] = new OneToOneRingBuffer(ringMemory[next++]);
            }
        }

        final AtomicIntegerArray senderClosed = new AtomicIntegerArray(m);
        final AtomicIntegerArray receiverClosed = new AtomicIntegerArray(n);
        senders = new Sender[m];
        for (int s = 0; s < m; s++)
        {
            final OneToOneRingBuffer[] in = new OneToOneRingBuffer[n];
            for (int r = 0; r < n; r++)
            {
                in[r] = combine[r][s];
            }
            senders[s] = new Sender(s, new InProcessEndpoint(ctx, s, true, dispatch[s], in, senderClosed, receiverClosed));
        }
        receivers = new Receiver[n];
        for (int r = 0; r < n; r++)
        {
            final OneToOneRingBuffer[] in = new OneToOneRingBuffer[m];
            for (int s = 0; s < m; s++)
            {
                in[s] = dispatch[s][r];
            }
            receivers[r] = new Receiver(
                r, new InProcessEndpoint(ctx, r, false, combine[r], in, receiverClosed, senderClosed));
        }
    }

    private static UnsafeBuffer newRingMemory(final int capacity)
    {
        return new UnsafeBuffer(BufferUtil.allocateDirectAligned(capacity + RingBufferDescriptor.TRAILER_LENGTH, 64));
    }

    public M2nSender sender(final int senderId)
    {
        return senders[senderId];
    }

    public M2nReceiver receiver(final int receiverId)
    {
        return receivers[receiverId];
    }

    /** Close every sender and receiver; the rings' memory goes with the last reference (aligned slices cannot be freed early). */
    @Override
    public void close()
    {
        for (final Sender sender : senders)
        {
            sender.close();
        }
        for (final Receiver receiver : receivers)
        {
            receiver.close();
        }
    }

    private static final class Sender extends EndpointM2nSender<InProcessEndpoint>
    {
        Sender(final int senderId, final InProcessEndpoint endpoint)
        {
            super(endpoint, senderId);
        }
    }

    private static final class Receiver extends EndpointM2nReceiver<InProcessEndpoint>
    {
        Receiver(final int receiverId, final InProcessEndpoint endpoint)
        {
            super(endpoint, receiverId);
        }
    }
}
