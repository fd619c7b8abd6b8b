package dev.tandem.transport.kv;

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

    /** Every layer of every position arrived; decode may continue from {@code firstToken}. */
    void transferComplete(long transferId, int firstToken);

    /** The transfer ended incomplete or refused; its reserved blocks should be freed. */
    void transferFailed(long transferId, String reason);
}
