package dev.tandem.core.synth;

import dev.tandem.core.TandemException;
import dev.tandem.core.config.Architecture;

import java.util.List;

/** The shape of a synthetic checkpoint; presets carry the published models' real dimensions. */
public record SynthSpec(
        Architecture architecture,
        int hiddenSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int ffnHiddenSize,
        int numExperts,
        int expertsPerToken,
        int vocabSize,
        int maxPositions,
        double ropeTheta,
        float clipQkv) {

    public static final List<String> PRESETS = List.of("mixtral-8x7b", "mixtral-8x22b", "dbrx", "mixtral-small");

    public static SynthSpec preset(String name) {
        return switch (name) {
            case "mixtral-8x7b" -> new SynthSpec(Architecture.MIXTRAL, 4096, 32, 32, 8, 14336, 8, 2, 32000, 32768, 1e6, Float.NaN);
            case "mixtral-8x22b" -> new SynthSpec(Architecture.MIXTRAL, 6144, 56, 48, 8, 16384, 8, 2, 32768, 65536, 1e6, Float.NaN);
            case "dbrx" -> new SynthSpec(Architecture.DBRX, 6144, 40, 48, 8, 10752, 16, 4, 100352, 32768, 5e5, 8f);
            // a model small enough for the demo and tests on two cores, Mixtral-shaped
            case "mixtral-small" -> new SynthSpec(Architecture.MIXTRAL, 512, 4, 8, 2, 1792, 8, 2, 32000, 4096, 1e6, Float.NaN);
            default -> throw new TandemException("unknown preset '" + name + "'; presets: " + String.join(", ", PRESETS));
        };
    }

    public SynthSpec withLayers(int layers) {
        return new SynthSpec(architecture, hiddenSize, layers, numHeads, numKvHeads, ffnHiddenSize, numExperts,
                expertsPerToken, vocabSize, maxPositions, ropeTheta, clipQkv);
    }

    public SynthSpec withVocab(int vocab) {
        return new SynthSpec(architecture, hiddenSize, numLayers, numHeads, numKvHeads, ffnHiddenSize, numExperts,
                expertsPerToken, vocab, maxPositions, ropeTheta, clipQkv);
    }

    public int headDim() {
        return hiddenSize / numHeads;
    }
}
