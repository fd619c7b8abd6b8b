package dev.tandem.core.engine;

/**
 * @param outputIds    the generated tokens
 * @param promptLogits (prompt length, vocab) row-major, or null unless asked for
 * @param finishReason "stop" (end-of-sequence), "length" (max tokens or the context's end), or
 *                     "cancelled"
 * @param promptLogprobs per prompt position the prompt token's log-probabilities (null at 0, which
 *                     nothing predicts), or null unless {@link Request#promptLogprobs} asked for them
 */
public record Result(int[] outputIds, float[] promptLogits, String finishReason, TokenLogprobs[] promptLogprobs) {
    public Result(int[] outputIds, float[] promptLogits, String finishReason) {
        this(outputIds, promptLogits, finishReason, null);
    }
}
