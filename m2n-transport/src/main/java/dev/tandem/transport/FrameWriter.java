package dev.tandem.transport;

import org.agrona.MutableDirectBuffer;

/**
 * Writes the frame for one peer's rows of a {@link RowBatch}: either the whole frame into a
 * claimed region of a log or ring (one copy of the activations), or only the header and routing
 * into a staging buffer so that the activations can be offered straight from the batch.
 */
final class FrameWriter
{
    private final FrameFlyweight frame = new FrameFlyweight();
    private final byte type;
    private final int senderId;
    private long epoch;

    FrameWriter(final byte type, final int senderId, final long epoch)
    {
        this.type = type;
        this.senderId = senderId;
        this.epoch = epoch;
    }

    void epoch(final long epoch)
    {
        this.epoch = epoch;
    }

    /** @return bytes of the frame that carries {@code peer}'s rows of {@code batch}. */
    static int frameLength(final RowBatch batch, final int peer)
    {
        return (int)FrameFlyweight.frameLength(batch.peerRowCount(peer), batch.hiddenSize(), batch.dtype());
    }

    /**
     * Write header, routing and padding at {@code offset}.
     *
     * @return bytes written, which is where the activations start.
     */
    int writeHeaderAndRouting(
        final MutableDirectBuffer dst, final int offset,
        final long step, final int layer, final int microBatch, final RowBatch batch, final int peer)
    {
        final int tokens = batch.peerRowCount(peer);
        frame.wrap(dst, offset).writeHeader(
            type, epoch, step, layer, microBatch, senderId, tokens, batch.hiddenSize(), batch.dtype());

        final int routingLength = tokens * FrameFlyweight.ROUTING_ENTRY_LENGTH;
        final int routingOffset = offset + FrameFlyweight.HEADER_LENGTH;
        dst.putBytes(routingOffset, batch.routing(), RowBatch.routingOffset(batch.peerRowStart(peer)), routingLength);
        final int activationsOffset = FrameFlyweight.activationsOffset(tokens);
        dst.setMemory(routingOffset + routingLength, activationsOffset - FrameFlyweight.HEADER_LENGTH - routingLength,
            (byte)0);
        return activationsOffset;
    }

    /** Write the whole frame at {@code offset}; the caller has room for {@link #frameLength}. */
    void writeFrame(
        final MutableDirectBuffer dst, final int offset,
        final long step, final int layer, final int microBatch, final RowBatch batch, final int peer)
    {
        final int activationsOffset = writeHeaderAndRouting(dst, offset, step, layer, microBatch, batch, peer);
        dst.putBytes(
            offset + activationsOffset,
            batch.activations(), batch.activationOffset(batch.peerRowStart(peer)),
            batch.peerRowCount(peer) * batch.rowBytes());
    }
}
