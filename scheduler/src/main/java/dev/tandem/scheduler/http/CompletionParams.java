package dev.tandem.scheduler.http;

import dev.tandem.core.sampling.SamplingParams;

import java.util.List;

/**
 * One /v1/completions or /v1/chat/completions request, checked field by field.
 *
 * @param chat         the chat endpoint (its response shapes)
 * @param model        the model asked for, or null for the served one
 * @param maxTokens    the most tokens to generate, or null for the endpoint's default
 * @param stop         strings that end the completion (at most four), cut from the text
 * @param includeUsage stream a usage chunk before [DONE]
 * @param ignoreEos    keep generating past the end-of-sequence token (vLLM's extension)
 * @param stopTokenIds token ids that end the completion like EOS (vLLM's extension; apply with ignore_eos too)
 * @param includeStop  keep the matched stop string in the text (vLLM's include_stop_str_in_output)
 * @param logprobs     most likely tokens to list beside each token's log-probability; -1: no logprobs
 * @param echo         completions: the prompt first, in the text and (with logprobs) in the logprobs
 * @param n            choices to answer, each its own sample (seed + i where the request gave a seed)
 * @param bestOf       candidates to generate for them (≥ n): the n of highest cumulative log-probability answer
 * @param prompts      every prompt of a completions request ({@code prompt} is the first); n choices each
 */
public record CompletionParams(boolean chat, String model, Prompt prompt, Integer maxTokens, SamplingParams sampling,
                               List<String> stop, boolean stream, boolean includeUsage, boolean ignoreEos,
                               int[] stopTokenIds, boolean includeStop, int logprobs, boolean echo, int n,
                               int bestOf, List<Prompt> prompts) {
    /** OpenAI's default for /v1/completions; chat defaults to the rest of the context. */
    public static final int DEFAULT_COMPLETION_MAX_TOKENS = 16;
}
