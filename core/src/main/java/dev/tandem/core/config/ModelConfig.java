package dev.tandem.core.config;

/**
 * The shape and constants of a model, the same record for every architecture.
 *
 * @param routerNormP     the p of the p-norm that top-k gate weights are divided by; Mixtral's
 *                        "renormalise to sum 1" is p = 1 (the weights are positive); 0 = none
 * @param clipQkv         DBRX clamps the fused QKV projection to ±clipQkv; NaN = no clamp
 * @param slidingWindow   attention window in tokens; 0 = the whole context
 */
public record ModelConfig(
        Architecture architecture,
        int hiddenSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        int vocabSize,
        int maxPositions,
        int ffnHiddenSize,
        int numExperts,
        int expertsPerToken,
        float normEps,
        double ropeTheta,
        float routerNormP,
        float clipQkv,
        int slidingWindow,
        boolean tieEmbeddings,
        int bosTokenId,
        int[] eosTokenIds) {

    public int qDim() {
        return numHeads * headDim;
    }

    public int kvDim() {
        return numKvHeads * headDim;
    }
}
