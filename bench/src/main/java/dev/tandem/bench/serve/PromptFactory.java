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

    /**
     * Common English words, each one token with its leading space in the Llama, Mistral and cl100k
     * vocabularies, for servers that take text only (the chat endpoint).
     */
    private static final String[] WORDS = ("the of and to in is that it for was on are as with his they at be this"
            + " from have or by one had not but what all were when we there can an your which their said if do will"
            + " each about how up out them then she many some so these would other into has more her two like him see"
            + " time could no make than first been its who now people my made over did down only way find use may water"
            + " long little very after words called just where most know get through back much go good new write our")
            .split(" ");

    public int[] prompt(int requestIndex, int length) {
        return new SplittableRandom(seed * 0x9E3779B97F4A7C15L + requestIndex).ints(length, minId, vocabSize).toArray();
    }

    /** {@code words} random words (about as many tokens; the server's usage says how many), the same for the same index. */
    public String text(int requestIndex, int words) {
        SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + requestIndex);
        StringBuilder sb = new StringBuilder(words * 6);
        for (int i = 0; i < words; i++) {
            sb.append(i == 0 ? "" : " ").append(WORDS[random.nextInt(WORDS.length)]);
        }
        return sb.toString();
    }
}
