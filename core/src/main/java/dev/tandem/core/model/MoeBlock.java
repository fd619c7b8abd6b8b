package dev.tandem.core.model;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceWeight;
import dev.tandem.core.config.ModelConfig;

/**
 * The sparse mixture-of-experts layer: gate logits, top-k routing, then one batched FFN per
 * expert over all the tokens routed to it, summed back weighted by their gate weights.
 * {@code out = Σ_k w_k · expert_k(in)}.
 */
final class MoeBlock {
    private final ComputeBackend backend;
    private final int experts;
    private final int topK;
    private final Router router;
    private final Activations routerLogits; // (tokens, experts)
    private final Activations expertIn;     // (tokens, hidden)
    private final Activations gate;         // (tokens, ffn)
    private final Activations up;           // (tokens, ffn)
    private final Activations expertOut;    // (tokens, hidden)
    private final float[] hostLogits;       // (tokens, experts)
    private final int[][] tokensOf;         // per expert, the batch rows routed to it
    private final float[][] weightsOf;      // per expert, their gate weights
    private final int[] countOf;
    private final int[] chosen;
    private final float[] chosenWeights;

    MoeBlock(ComputeBackend backend, ModelConfig c, int capacity) {
        this.backend = backend;
        this.experts = c.numExperts();
        this.topK = c.expertsPerToken();
        this.router = new Router(experts, topK, c.routerNormP());
        routerLogits = backend.allocate(capacity, experts);
        expertIn = backend.allocate(capacity, c.hiddenSize());
        gate = backend.allocate(capacity, c.ffnHiddenSize());
        up = backend.allocate(capacity, c.ffnHiddenSize());
        expertOut = backend.allocate(capacity, c.hiddenSize());
        hostLogits = new float[capacity * experts];
        tokensOf = new int[experts][capacity];
        weightsOf = new float[experts][capacity];
        countOf = new int[experts];
        chosen = new int[topK];
        chosenWeights = new float[topK];
    }

    /** {@code out = moe(in)} for {@code rows} tokens; {@code router} is the gate (experts, hidden). */
    void forward(Activations in, DeviceWeight gateWeight, ExpertFfn[] expertFfns, Activations out, int rows) {
        backend.matmul(routerLogits, in, gateWeight, rows);
        backend.copyToHost(routerLogits, rows, hostLogits);
        java.util.Arrays.fill(countOf, 0);
        for (int t = 0; t < rows; t++) {
            router.route(hostLogits, t * experts, chosen, chosenWeights);
            for (int j = 0; j < topK; j++) {
                int e = chosen[j];
                tokensOf[e][countOf[e]] = t;
                weightsOf[e][countOf[e]] = chosenWeights[j];
                countOf[e]++;
            }
        }
        backend.zero(out, rows);
        for (int e = 0; e < experts; e++) {
            int count = countOf[e];
            if (count == 0) {
                continue;
            }
            backend.gatherRows(expertIn, in, tokensOf[e], count);
            expertFfns[e].apply(expertIn, gate, up, expertOut, count);
            backend.scatterAddScaled(out, expertOut, tokensOf[e], weightsOf[e], count);
        }
    }
}
