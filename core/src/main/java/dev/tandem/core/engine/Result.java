package dev.tandem.core.engine;

/**
 * @param outputIds    the generated tokens
 * @param promptLogits (prompt length, vocab) row-major, or null unless asked for
 * @param finishReason "stop" (end-of-sequence), "length" (max tokens or the context's end), or
 *                     "cancelled"
 */
public record Result(int[] outputIds, float[] promptLogits, String finishReason) {
}
