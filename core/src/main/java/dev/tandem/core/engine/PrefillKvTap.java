package dev.tandem.core.engine;

import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.KvStorage;
import dev.tandem.core.compute.TokenBatch;
import dev.tandem.core.model.LayerObserver;

import java.util.IdentityHashMap;
import java.util.Map;

/**
 * The prompt machine's side of Splitwise's KV transfer: as each layer's attention finishes over a
 * micro-batch, hands the new key and value rows of every tracked sequence on (to a transport) as a
 * {@link KvRowSource} that copies them out of the cache straight into the memory they leave from,
 * so that layer l travels while layer l + 1 computes.
 *
 * <p>A sequence is tracked by the block table that {@link GenerationListener#onAdmitted} names;
 * rows of untracked sequences (other requests in the same batch) are not copied. A sequence's
 * rows in a batch are contiguous with consecutive positions (one prompt chunk, or one decode
 * token), so each tracked sequence gives one run per layer and micro-batch.
 * Use on the thread that steps the model; not thread-safe.
 */
public final class PrefillKvTap implements LayerObserver {
    /** Receives one run of rows, to copy out of the cache during the call. */
    @FunctionalInterface
    public interface KvRowsListener {
        void rowsReady(long transferId, int layer, int firstPosition, int count, KvRowSource rows);
    }

    private final KvRowsListener listener;
    private final Map<int[], Long> transfers = new IdentityHashMap<>(); // block table -> transfer id
    private final CacheKvRows run;                                     // the run being handed over, reused

    /** @param backend the backend that computes into the cache this tap observes */
    public PrefillKvTap(ComputeBackend backend, KvRowsListener listener) {
        this.listener = listener;
        this.run = new CacheKvRows(backend);
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
                listener.rowsReady(transferId, layer, batch.positions[start], end - start,
                        run.of(kv, layer, batch.slots, start));
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
