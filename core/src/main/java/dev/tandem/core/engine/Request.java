package dev.tandem.core.engine;

import dev.tandem.core.sampling.SamplingParams;

/**
 * One generation request.
 *
 * @param prompt       token ids, at least one
 * @param maxTokens    the most tokens to generate
 * @param stopAtEos    stop after the model's end-of-sequence token
 * @param promptLogits keep the logits at every prompt position, (prompt length, vocab)
 * @param logprobs     report each generated token's log-probability and this many most likely
 *                     tokens ({@link TokenLogprobs}); -1: none
 * @param promptLogprobs the same for every prompt token after the first; -1: none
 */
public record Request(int[] prompt, int maxTokens, SamplingParams sampling, boolean stopAtEos, boolean promptLogits,
                      int logprobs, int promptLogprobs) {
    public Request(int[] prompt, int maxTokens, SamplingParams sampling, boolean stopAtEos, boolean promptLogits) {
        this(prompt, maxTokens, sampling, stopAtEos, promptLogits, -1, -1);
    }

    /** Whether its logits must come back to the host (it cannot be sampled on a device alone). */
    public boolean needsLogits() {
        return promptLogits || logprobs >= 0 || promptLogprobs >= 0;
    }

    /** The KV positions it may fill: the prompt and every token it may generate, within {@code contextLength}. */
    public int positions(int contextLength) {
        return (int) Math.min(contextLength, (long) prompt.length + maxTokens);
    }

    public static Request greedy(int[] prompt, int maxTokens) {
        return new Request(prompt, maxTokens, SamplingParams.GREEDY, true, false);
    }
}
