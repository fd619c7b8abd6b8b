package dev.tandem.scheduler.engine;

/**
 * The model an engine serves, as the API names and bounds it.
 *
 * @param name          the id clients pass as "model"
 * @param contextLength the most tokens (prompt and completion) one request may hold
 * @param vocabSize     token ids are in [0, vocabSize)
 * @param eosTokenIds   the end-of-sequence ids
 */
public record ServedModel(String name, int contextLength, int vocabSize, int[] eosTokenIds) {
}
