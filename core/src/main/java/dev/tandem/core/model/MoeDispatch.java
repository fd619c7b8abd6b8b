package dev.tandem.core.model;

import dev.tandem.core.compute.Activations;

/**
 * How the attention side gets its MoE outputs: computed in this process (colocated) or by
 * expert nodes over the M2N transport. {@link #submit} starts the work of one (layer,
 * micro-batch) and may return before it is done; {@link #await} returns when
 * {@code out = Σ_k w_k · E_k(normed)} is complete. Between the two, the attention side computes
 * the next micro-batch: the ping-pong.
 */
public interface MoeDispatch {
    /** Called once per forward step, before its first {@link #submit}. */
    default void beginStep(int microBatches) {
    }

    void submit(int layer, int microBatch, Activations normed, Routing routing, Activations out);

    void await(int layer, int microBatch);
}
