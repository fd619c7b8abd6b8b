package dev.tandem.core.compute;

/**
 * Top-k routing on the host: softmax over the experts' logits, the k largest, divided by their
 * p-norm (Mixtral: p = 1, a plain renormalisation; DBRX: {@code moe_normalize_expert_weights}).
 * Ties go to the lower expert index, as {@code torch.topk} does on CPU.
 */
public final class Router {
    private final int experts;
    private final int topK;
    private final float normP;
    private final float[] probabilities;

    public Router(int experts, int topK, float normP) {
        this.experts = experts;
        this.topK = topK;
        this.normP = normP;
        this.probabilities = new float[experts];
    }

    public void route(float[] logits, int offset, int[] chosen, float[] weights) {
        route(logits, offset, chosen, weights, 0);
    }

    /** Routes one token: writes its k experts and their weights at {@code out .. out + k}. */
    public void route(float[] logits, int offset, int[] chosen, float[] weights, int out) {
        float max = Float.NEGATIVE_INFINITY;
        for (int e = 0; e < experts; e++) {
            max = Math.max(max, logits[offset + e]);
        }
        float sum = 0f;
        for (int e = 0; e < experts; e++) {
            probabilities[e] = (float) Math.exp(logits[offset + e] - max);
            sum += probabilities[e];
        }
        for (int e = 0; e < experts; e++) {
            probabilities[e] /= sum;
        }
        takeTopK(chosen, weights, out);
        if (normP > 0) {
            double norm = 0;
            for (int j = 0; j < topK; j++) { // pow(x, 1) is x: Mixtral's p = 1 skips the calls, bit for bit the same
                norm += normP == 1f ? Math.abs(weights[out + j]) : Math.pow(Math.abs(weights[out + j]), normP);
            }
            float scale = (float) (1.0 / (normP == 1f ? norm : Math.pow(norm, 1.0 / normP)));
            for (int j = 0; j < topK; j++) {
                weights[out + j] *= scale;
            }
        }
    }

    /** The k largest of {@link #probabilities} (consumed), largest first, ties to the lower index. */
    private void takeTopK(int[] chosen, float[] weights, int out) {
        for (int j = 0; j < topK; j++) {
            int best = -1;
            for (int e = 0; e < experts; e++) {
                if (probabilities[e] >= 0 && (best < 0 || probabilities[e] > probabilities[best])) {
                    best = e;
                }
            }
            chosen[out + j] = best;
            weights[out + j] = probabilities[best];
            probabilities[best] = -1f; // taken
        }
    }
}
