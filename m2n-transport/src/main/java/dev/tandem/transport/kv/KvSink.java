package dev.tandem.transport.kv;

import dev.tandem.core.compute.DeviceCopies;

import java.lang.foreign.MemorySegment;

/**
 * Where a {@link KvTransferReceiver} delivers transfers, on the thread that polls it: typically the
 * token node's stepping thread, writing into its KV cache ({@code dev.tandem.core.engine.KvHandoff})
 * and resuming the request once complete.
 */
public interface KvSink
{
    /**
     * The keys, then the values, of {@code layer} for positions
     * {@code firstPosition .. firstPosition + count − 1}: {@code (2, count, kvDim)} elements of the
     * receiver's dtype at {@code rows[offset ..)}, in the received frame itself, which Aeron reuses
     * after the call (copy what is kept). Throwing refuses the transfer: its later rows are dropped
     * and it ends in {@link #transferFailed}.
     */
    void layerArrived(long transferId, int layer, int firstPosition, int count, MemorySegment rows, long offset);

    /**
     * The DMAs onto this sink's device, or null where it takes rows in host memory. Not null: the
     * receiver lands each message's rows on the device ({@link #deviceLanding}), straight out of
     * Aeron's term buffers, and hands them over with {@link #layerLanded} instead of
     * {@link #layerArrived}.
     */
    default DeviceCopies deviceCopies()
    {
        return null;
    }

    /**
     * The device address where rows from sender {@code slot} land, with room for {@code bytes}
     * (one area a sender, so that messages from several interleave); the area stays the sink's.
     */
    default long deviceLanding(final int slot, final long bytes)
    {
        throw new UnsupportedOperationException("this sink takes KV rows in host memory");
    }

    /**
     * As {@link #layerArrived}, the rows landed (their copies done) at the start of
     * {@link #deviceLanding}{@code (slot, …)}, which the next message from that sender overwrites.
     */
    default void layerLanded(final long transferId, final int layer, final int firstPosition, final int count,
        final int slot)
    {
        throw new UnsupportedOperationException("this sink takes KV rows in host memory");
    }

    /** Every layer of every position arrived; decode may continue from {@code firstToken}. */
    void transferComplete(long transferId, int firstToken);

    /** The transfer ended incomplete or refused; its reserved blocks should be freed. */
    void transferFailed(long transferId, String reason);
}
