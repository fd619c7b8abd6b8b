package dev.tandem.bench;

import dev.tandem.core.config.ModelConfig;

/**
 * The physical bounds of a GPU step (../shared/DESIGN.md, "GPU backend"). A decode step must read
 * the attention weights of every layer, the experts its batch hits (E·(1 − (1 − K/E)^B) of them
 * per layer at batch B), the LM head and the KV cache; those bytes over the measured copy
 * bandwidth are its floor. A prefill step must do 2 FLOP per active parameter per token plus
 * the attention products; those over the measured GEMM rate are its floor.
 */
public final class Roofline {
    private Roofline() {
    }

    /** Bytes of the attention side of one layer: projections, router and norms. */
    static long attentionLayerWeights(ModelConfig c, int weightBytes) {
        long d = c.hiddenSize();
        long params = 2 * d * c.qDim() + 2 * d * c.kvDim() + (long) c.numExperts() * d + 2 * d;
        return params * weightBytes;
    }

    /** Bytes of one expert's three matrices. */
    static long expertWeights(ModelConfig c, int weightBytes) {
        return 3L * c.hiddenSize() * c.ffnHiddenSize() * weightBytes;
    }

    /** Experts a batch of {@code batch} tokens hits in one layer, expected under uniform routing. */
    static double expertsHit(ModelConfig c, int batch) {
        double miss = 1.0 - (double) c.expertsPerToken() / c.numExperts();
        return c.numExperts() * (1.0 - Math.pow(miss, batch));
    }

    /**
     * Bytes one decode step of {@code batch} sequences must read, each attending over
     * {@code context} positions; {@code kvBytesPerToken} over all layers.
     */
    public static double decodeStepBytes(ModelConfig c, int batch, double context, int weightBytes,
                                         long kvBytesPerToken) {
        double perLayer = attentionLayerWeights(c, weightBytes) + expertsHit(c, batch) * expertWeights(c, weightBytes);
        double lmHead = (double) c.vocabSize() * c.hiddenSize() * weightBytes;
        return c.numLayers() * perLayer + lmHead + batch * context * kvBytesPerToken;
    }

    /** FLOPs of prefilling one prompt of {@code tokens}: the active parameters and causal attention. */
    public static double prefillFlops(ModelConfig c, int tokens) {
        double d = c.hiddenSize();
        double activePerLayer = 2 * d * c.qDim() + 2 * d * c.kvDim() + c.numExperts() * d
                + c.expertsPerToken() * 3.0 * d * c.ffnHiddenSize();
        double attention = 2.0 * 2.0 * c.qDim() * ((double) tokens * (tokens + 1) / 2); // q·k and p·v, causal
        return c.numLayers() * (2.0 * tokens * activePerLayer + attention);
    }
}
