package dev.tandem.bench.serve;

import java.util.SplittableRandom;

/**
 * Random prompts as token ids in [{@code minId}, {@code vocabSize}): the same request index and seed always give
 * the same prompt, and distinct indices give unrelated ones, so that no server-side prefix cache helps.
 */
public record PromptFactory(long seed, int minId, int vocabSize) {
    public PromptFactory {
        if (minId < 0 || minId >= vocabSize) {
            throw new IllegalArgumentException("--min-id " + minId + " must lie in [0, vocab size " + vocabSize + ")");
        }
    }

    public int[] prompt(int requestIndex, int length) {
        return new SplittableRandom(seed * 0x9E3779B97F4A7C15L + requestIndex).ints(length, minId, vocabSize).toArray();
    }
}
