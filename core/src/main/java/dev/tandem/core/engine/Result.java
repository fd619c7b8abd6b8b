package dev.tandem.core.engine;

/**
 * @param outputIds    the generated tokens
 * @param promptLogits (prompt length, vocab) row-major, or null unless asked for
 * @param finishReason "stop" (end-of-sequence), or "length" (max tokens or the context's end)
 */
public record Result(int[] outputIds, float[] promptLogits, String finishReason) {
}
