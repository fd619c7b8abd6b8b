package dev.tandem.core.model;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.config.ModelConfig;

/**
 * Every activation buffer of one micro-batch, allocated once for {@code capacity} tokens so that
 * {@code forward} allocates nothing.
 */
final class DecoderState {
    final int capacity;
    final Activations x;            // (tokens, hidden) the residual stream
    final Activations normed;       // (tokens, hidden)
    final Activations qkv;          // (tokens, qDim + 2·kvDim)
    final Activations q;            // view (tokens, heads · headDim)
    final Activations k;            // view (tokens, kvHeads · headDim)
    final Activations v;            // view (tokens, kvHeads · headDim)
    final Activations qk;           // view (tokens, (heads + kvHeads) · headDim): q and k, rotated in one pass
    final Activations attended;     // (tokens, heads · headDim)
    final Activations projected;    // (tokens, hidden)
    final Activations moeOut;       // (tokens, hidden) Σ_k w_k · E_k(normed), filled by the dispatch
    boolean moeInX;                 // this layer's MoE went straight into x (MoeDispatch.addInto): nothing to add
    final Activations routerLogits; // (tokens, experts)
    final float[] hostRouterLogits; // (tokens, experts)
    final Activations gates;        // (tokens, experts) dense gate weights, for the dense MoE
    final Routing routing;
    final Activations logitIn;      // (tokens, hidden) the rows whose logits are wanted
    final Activations logits;       // (tokens, vocab)

    DecoderState(ComputeBackend backend, ModelConfig c, int capacity) {
        this.capacity = capacity;
        x = backend.allocate(capacity, c.hiddenSize());
        normed = backend.allocate(capacity, c.hiddenSize());
        qkv = backend.allocate(capacity, c.qDim() + 2 * c.kvDim());
        q = qkv.columns(0, c.qDim());
        k = qkv.columns(c.qDim(), c.kvDim());
        v = qkv.columns(c.qDim() + c.kvDim(), c.kvDim());
        qk = qkv.columns(0, c.qDim() + c.kvDim());
        attended = backend.allocate(capacity, c.qDim());
        projected = backend.allocate(capacity, c.hiddenSize());
        moeOut = backend.allocate(capacity, c.hiddenSize());
        routerLogits = backend.allocate(capacity, c.numExperts());
        hostRouterLogits = new float[capacity * c.numExperts()];
        gates = backend.allocate(capacity, c.numExperts());
        routing = new Routing(capacity, c.expertsPerToken());
        logitIn = backend.allocate(capacity, c.hiddenSize());
        logits = backend.allocate(capacity, c.vocabSize());
    }
}
