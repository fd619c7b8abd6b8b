package dev.tandem.core.engine;

import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.KvStorage;
import dev.tandem.core.compute.TokenBatch;
import dev.tandem.core.model.LayerObserver;

import java.util.IdentityHashMap;
import java.util.Map;

/**
 * The prompt machine's side of Splitwise's KV transfer: as each layer's attention finishes over a
 * micro-batch, copies the new key and value rows of every tracked sequence to the host and hands
 * them on (to a transport), so that layer l travels while layer l + 1 computes.
 *
 * <p>A sequence is tracked by the block table that {@link GenerationListener#onAdmitted} names;
 * rows of untracked sequences (other requests in the same batch) are not copied. A sequence's
 * rows in a batch are contiguous with consecutive positions (one prompt chunk, or one decode
 * token), so each tracked sequence gives one run per layer and micro-batch.
 * Use on the thread that steps the model; not thread-safe.
 */
public final class PrefillKvTap implements LayerObserver {
    /** Receives one run of rows; {@code keys} and {@code values}, (count, kvDim), are reused after the call. */
    @FunctionalInterface
    public interface KvRowsListener {
        void rowsReady(long transferId, int layer, int firstPosition, int count, float[] keys, float[] values);
    }

    private final ComputeBackend backend;
    private final KvRowsListener listener;
    private final Map<int[], Long> transfers = new IdentityHashMap<>(); // block table -> transfer id
    private final int[] slots;    // (maxBatchTokens)
    private final float[] keys;   // (maxBatchTokens, kvDim)
    private final float[] values; // (maxBatchTokens, kvDim)

    /**
     * @param kvDim          kvHeads · headDim of the model
     * @param maxBatchTokens the most tokens of one micro-batch ({@code CausalLm.maxBatchTokens()})
     */
    public PrefillKvTap(ComputeBackend backend, int kvDim, int maxBatchTokens, KvRowsListener listener) {
        this.backend = backend;
        this.listener = listener;
        this.slots = new int[maxBatchTokens];
        this.keys = new float[maxBatchTokens * kvDim];
        this.values = new float[maxBatchTokens * kvDim];
    }

    /** Sends the rows of the sequence that owns {@code blockTable} under {@code transferId} from now on. */
    public void track(int[] blockTable, long transferId) {
        transfers.put(blockTable, transferId);
    }

    public void untrack(int[] blockTable) {
        transfers.remove(blockTable);
    }

    public int tracked() {
        return transfers.size();
    }

    @Override
    public void layerDone(int layer, TokenBatch batch, KvStorage kv) {
        if (transfers.isEmpty()) {
            return;
        }
        int start = 0;
        while (start < batch.size()) {
            int end = runEnd(batch, start);
            Long transferId = transfers.get(batch.blockTables[start]);
            if (transferId != null) {
                int count = end - start;
                System.arraycopy(batch.slots, start, slots, 0, count);
                backend.readKv(kv, layer, slots, count, keys, values);
                listener.rowsReady(transferId, layer, batch.positions[start], count, keys, values);
            }
            start = end;
        }
    }

    /** The end of the run of one sequence's consecutive positions that starts at row {@code start}. */
    private static int runEnd(TokenBatch batch, int start) {
        int end = start + 1;
        while (end < batch.size() && batch.blockTables[end] == batch.blockTables[start]
                && batch.positions[end] == batch.positions[end - 1] + 1) {
            end++;
        }
        return end;
    }
}
