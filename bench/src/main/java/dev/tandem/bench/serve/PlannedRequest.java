package dev.tandem.bench.serve;

/**
 * One request of a replay.
 *
 * @param index        position in the replay, 0-based; also seeds the prompt's token ids
 * @param sendAtSeconds s after the replay starts
 * @param promptTokens  prompt length after {@link LengthLimits}, ≥ 1
 * @param outputTokens  {@code max_tokens} after {@link LengthLimits}, ≥ 1
 */
public record PlannedRequest(int index, double sendAtSeconds, int promptTokens, int outputTokens) {
}
