package dev.tandem.transport.kv;

/**
 * Where a {@link KvTransferReceiver} delivers transfers, on the thread that polls it: typically the
 * token node's stepping thread, writing into its KV cache ({@code dev.tandem.core.engine.KvHandoff})
 * and resuming the request once complete.
 */
public interface KvSink
{
    /**
     * Keys and values (count, kvDim) float32 of {@code layer} for positions
     * {@code firstPosition .. firstPosition + count − 1}; the arrays are reused after the call.
     * Throwing refuses the transfer: its later rows are dropped and it ends in {@link #transferFailed}.
     */
    void layerArrived(long transferId, int layer, int firstPosition, int count, float[] keys, float[] values);

    /** Every layer of every position arrived; decode may continue from {@code firstToken}. */
    void transferComplete(long transferId, int firstToken);

    /** The transfer ended incomplete or refused; its reserved blocks should be freed. */
    void transferFailed(long transferId, String reason);
}
