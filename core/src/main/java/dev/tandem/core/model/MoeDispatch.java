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

    /**
     * {@code x += Σ_k w_k · E_k(normed)} at once, where the experts compute in this process in the
     * order of the attention side's own work (the colocated MoE): no buffer to zero and no add a
     * layer, the same sums ({@code x} takes each row's sum over its experts as the add would).
     * False where the dispatch only has {@link #submit} and {@link #await}; then nothing is done.
     */
    default boolean addInto(int layer, Activations normed, Routing routing, Activations x) {
        return false;
    }

    /**
     * Whether {@link #submitDense} is available: the experts are in this process, so that routing
     * may stay where the gate logits are (the device).
     */
    default boolean acceptsDenseGates() {
        return false;
    }

    /**
     * Whether {@link #submitDense} of this many rows reads only the experts its rows route to
     * (the weights routing on the host would read), so that a small batch may keep its routing
     * on the device too.
     */
    default boolean denseReadsOnlyRoutedExperts(int rows) {
        return false;
    }

    /**
     * As {@link #submit}, with the routing given as dense gate weights {@code gates} (rows,
     * experts), zero where a token was not routed: every expert runs over every row.
     */
    default void submitDense(int layer, int microBatch, Activations normed, Activations gates, int rows,
                             Activations out) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " routes on the host only");
    }
}
