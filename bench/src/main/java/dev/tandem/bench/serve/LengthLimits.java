package dev.tandem.bench.serve;

/**
 * How a trace's prompt and output lengths are fitted to the model under test: first clipped to
 * {@code maxPrompt} / {@code maxOutput}, then, with {@code scaleToContext}, both scaled down by the same
 * factor when their sum exceeds the context. Lengths stay ≥ 1.
 *
 * @param contextLength  the model's {@code max_model_len}, tokens; 0 when unknown
 * @param maxPrompt      clip, tokens; 0 for none
 * @param maxOutput      clip, tokens; 0 for none
 */
public record LengthLimits(int contextLength, int maxPrompt, int maxOutput, boolean scaleToContext) {
    public static final LengthLimits NONE = new LengthLimits(0, 0, 0, false);

    /** @return {prompt, output} */
    public int[] apply(int promptTokens, int outputTokens) {
        int prompt = Math.max(1, maxPrompt > 0 ? Math.min(promptTokens, maxPrompt) : promptTokens);
        int output = Math.max(1, maxOutput > 0 ? Math.min(outputTokens, maxOutput) : outputTokens);
        if (scaleToContext && contextLength >= 2 && prompt + output > contextLength) {
            // floor keeps the sum within the context; raising a 0 to 1 cannot overflow it since the other
            // side's exact share was then above contextLength − 1
            double factor = (double) contextLength / (prompt + output);
            prompt = Math.max(1, (int) Math.floor(prompt * factor));
            output = Math.max(1, (int) Math.floor(output * factor));
        }
        return new int[] {prompt, output};
    }

    /** @return whether a request of these (already applied) lengths exceeds the known context */
    public boolean exceedsContext(int promptTokens, int outputTokens) {
        return contextLength > 0 && promptTokens + outputTokens > contextLength;
    }
}
