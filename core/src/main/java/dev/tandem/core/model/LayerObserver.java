package dev.tandem.core.model;

import dev.tandem.core.compute.KvStorage;
import dev.tandem.core.compute.TokenBatch;

/**
 * Hears, during a forward, that one layer's attention has run over one micro-batch: the keys and
 * values of {@code layer} for every token of {@code batch} are in {@code kv} at
 * {@code batch.slots} and will not change again. Splitwise's prompt machine uses it to send each
 * layer's KV while the later layers are still computing.
 *
 * <p>Called on the thread that runs the forward, between layers: whatever it does delays the
 * rest of the step. On a device backend the rows may still be in flight when it is called;
 * {@link dev.tandem.core.compute.ComputeBackend#readKv} waits for them.
 */
@FunctionalInterface
public interface LayerObserver {
    void layerDone(int layer, TokenBatch batch, KvStorage kv);
}
