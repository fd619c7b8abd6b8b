package dev.tandem.core.model;

import dev.tandem.core.compute.Router;

/**
 * Where the tokens of one micro-batch go: token t's j-th choice is expert {@code expert[t·k + j]}
 * with gate weight {@code weight[t·k + j]}. Computed on the attention side, from the gate's logits.
 */
public final class Routing {
    public final int topK;
    public final int[] expert;  // (tokens · k)
    public final float[] weight; // (tokens · k)
    private int tokens;

    Routing(int capacity, int topK) {
        this.topK = topK;
        this.expert = new int[capacity * topK];
        this.weight = new float[capacity * topK];
    }

    public int tokens() {
        return tokens;
    }

    /** {@code tokens} rows routed elsewhere into {@link #expert} and {@link #weight} (see ComputeBackend.routeToHost). */
    void routed(int tokens) {
        this.tokens = tokens;
    }

    /** Routes {@code tokens} rows of gate logits (tokens, experts). */
    void route(Router router, float[] logits, int experts, int tokens) {
        this.tokens = tokens;
        for (int t = 0; t < tokens; t++) {
            router.route(logits, t * experts, expert, weight, t * topK);
        }
    }
}
