package dev.tandem.transport;

import org.agrona.DirectBuffer;

/**
 * Checks a received frame's header against what this endpoint expects, before a single byte
 * of it is trusted. Pure: it reads the buffer and returns a {@link FrameCheck}; the caller
 * counts and drops. Never throws on hostile input.
 */
public final class FrameValidator
{
    private final FrameFlyweight frame = new FrameFlyweight();
    private final byte expectedType;
    private final int hiddenSize;
    private final Dtype dtype;
    private final int peerCount;
    private final int maxTokens;
    private long epoch;

    /**
     * @param expectedType {@link FrameFlyweight#TYPE_DISPATCH} on an expert node, combine on an attention node.
     * @param hiddenSize   elements per row.
     * @param dtype        element type.
     * @param peerCount    number of peers that may send; sender ids are 0..peerCount-1.
     * @param maxTokens    the most tokens one peer may send in one frame.
     * @param epoch        cluster epoch this node belongs to.
     */
    public FrameValidator(
        final byte expectedType, final int hiddenSize, final Dtype dtype, final int peerCount, final int maxTokens,
        final long epoch)
    {
        this.expectedType = expectedType;
        this.hiddenSize = hiddenSize;
        this.dtype = dtype;
        this.peerCount = peerCount;
        this.maxTokens = maxTokens;
        this.epoch = epoch;
    }

    /** A new cluster epoch (membership changed): frames of the old one are dropped from now on. */
    public void epoch(final long epoch)
    {
        this.epoch = epoch;
    }

    public long epoch()
    {
        return epoch;
    }

    /**
     * Check the header of a frame that starts at {@code offset}.
     *
     * @param buffer      holding the received bytes.
     * @param offset      of the frame.
     * @param available   bytes received so far for this frame in {@code buffer} (the whole frame
     *                    when unfragmented, the first fragment otherwise).
     * @param complete    true when {@code available} is the whole frame, so that its length must
     *                    match exactly; false for the first fragment of a larger frame.
     * @return {@link FrameCheck#VALID} or the first reason to drop it.
     */
    public FrameCheck checkHeader(
        final DirectBuffer buffer, final int offset, final int available, final boolean complete)
    {
        if (available < FrameFlyweight.HEADER_LENGTH || offset < 0 || offset > buffer.capacity() - available)
        {
            return FrameCheck.TOO_SHORT;
        }

        frame.wrap(buffer, offset);
        if (frame.magic() != FrameFlyweight.MAGIC)
        {
            return FrameCheck.BAD_MAGIC;
        }
        if (frame.version() != FrameFlyweight.CURRENT_VERSION)
        {
            return FrameCheck.BAD_VERSION;
        }
        if (frame.type() != expectedType)
        {
            return FrameCheck.BAD_TYPE;
        }
        if (frame.epoch() != epoch)
        {
            return FrameCheck.BAD_EPOCH;
        }
        if (Dtype.fromCode(frame.dtypeCode()) != dtype)
        {
            return FrameCheck.BAD_DTYPE;
        }
        if (frame.hiddenSize() != hiddenSize)
        {
            return FrameCheck.BAD_HIDDEN_SIZE;
        }
        if (frame.senderId() >= peerCount)
        {
            return FrameCheck.BAD_SENDER;
        }
        if (frame.reserved() != 0)
        {
            return FrameCheck.RESERVED_NOT_ZERO;
        }

        final int tokens = frame.tokenCount();
        if (tokens < 0 || tokens > maxTokens)
        {
            return FrameCheck.BAD_TOKEN_COUNT;
        }
        final long expectedPayload = FrameFlyweight.payloadLength(tokens, hiddenSize, dtype);
        if (frame.payloadLength() != expectedPayload)
        {
            return FrameCheck.BAD_PAYLOAD_LENGTH;
        }

        final long frameLength = FrameFlyweight.HEADER_LENGTH + expectedPayload;
        if (complete ? frameLength != available : available > frameLength)
        {
            return FrameCheck.LENGTH_MISMATCH;
        }

        return FrameCheck.VALID;
    }

    /** @return the element type the frames must carry. */
    Dtype dtype()
    {
        return dtype;
    }
}
