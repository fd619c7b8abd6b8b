package dev.tandem.core.model;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.config.ModelConfig;

/** The colocated MoE: every expert in this process, computed at submit. */
public final class LocalMoeDispatch implements MoeDispatch {
    private final ComputeBackend backend;
    private final ExpertExecutor executor;
    private final int[] tokenOf; // pair → token row
    private final int topK;

    public LocalMoeDispatch(ComputeBackend backend, ModelConfig c, ExpertBank bank, int maxTokens) {
        this.backend = backend;
        this.topK = c.expertsPerToken();
        this.executor = new ExpertExecutor(backend, c, bank, maxTokens * topK);
        this.tokenOf = new int[maxTokens * topK];
        for (int p = 0; p < tokenOf.length; p++) {
            tokenOf[p] = p / topK;
        }
    }

    @Override
    public void submit(int layer, int microBatch, Activations normed, Routing routing, Activations out) {
        int tokens = routing.tokens();
        backend.zero(out, tokens);
        executor.run(layer, normed, tokenOf, routing.expert, routing.weight, tokenOf, tokens * topK, out);
    }

    @Override
    public void await(int layer, int microBatch) {
    }
}
