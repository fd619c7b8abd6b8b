package dev.tandem.core.engine;

import dev.tandem.core.sampling.SamplingParams;

/**
 * One generation request.
 *
 * @param prompt       token ids, at least one
 * @param maxTokens    the most tokens to generate
 * @param stopAtEos    stop after the model's end-of-sequence token
 * @param promptLogits keep the logits at every prompt position, (prompt length, vocab)
 */
public record Request(int[] prompt, int maxTokens, SamplingParams sampling, boolean stopAtEos, boolean promptLogits) {
    /** The KV positions it may fill: the prompt and every token it may generate, within {@code contextLength}. */
    public int positions(int contextLength) {
        return (int) Math.min(contextLength, (long) prompt.length + maxTokens);
    }

    public static Request greedy(int[] prompt, int maxTokens) {
        return new Request(prompt, maxTokens, SamplingParams.GREEDY, true, false);
    }
}
