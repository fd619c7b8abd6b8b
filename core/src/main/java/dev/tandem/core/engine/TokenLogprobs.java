package dev.tandem.core.engine;

/**
 * A token's log-probability under the model (the raw logits' log-softmax, before temperature or
 * any cut-off, as vLLM reports by default) and the {@code top} most likely tokens at its position.
 *
 * @param topIds      the most likely token ids, most likely first (ties: the lower id first)
 * @param topLogprobs their log-probabilities
 */
public record TokenLogprobs(int token, float logprob, int[] topIds, float[] topLogprobs) {

    /** From one row of logits: {@code logits[offset .. offset + vocab)}. */
    public static TokenLogprobs of(float[] logits, int offset, int vocab, int token, int top) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            max = Math.max(max, logits[offset + i]);
        }
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            sum += Math.exp(logits[offset + i] - max);
        }
        double logZ = max + Math.log(sum);
        int n = Math.min(top, vocab);
        int[] ids = new int[n];
        float[] values = new float[n];
        int filled = 0;
        for (int i = 0; i < vocab; i++) {  // insertion into the sorted top n: n is small (at most 20)
            float v = logits[offset + i];
            if (filled == n && (n == 0 || v <= logits[offset + ids[n - 1]])) {
                continue;                   // not above the n-th: a tie keeps the lower id
            }
            int at = filled < n ? filled++ : n - 1;
            while (at > 0 && logits[offset + ids[at - 1]] < v) {
                ids[at] = ids[at - 1];
                at--;
            }
            ids[at] = i;
        }
        for (int k = 0; k < n; k++) {
            values[k] = (float) (logits[offset + ids[k]] - logZ);
        }
        return new TokenLogprobs(token, (float) (logits[offset + token] - logZ), ids, values);
    }
}
