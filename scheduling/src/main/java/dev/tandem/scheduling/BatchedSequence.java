package dev.tandem.scheduling;

/**
 * What continuous batching reads and writes of a sequence. There is no prefill phase or decode
 * phase: a sequence's computed tokens (those with keys and values in the cache) catch up with its
 * tokens (the prompt and what it generated), a chunk or one token a step. The live engine's
 * sequences and the simulator's implement it; {@link StepScheduler} decides for both.
 */
public interface BatchedSequence {
    /** Tokens known: the prompt and what it generated. */
    int tokens();

    /** Of {@link #tokens}, those whose keys and values are in the cache. */
    int computedTokens();

    void computedTokens(int computed);

    int promptTokens();

    /** The most tokens, prompt and generated, it may reach. */
    int limit();

    boolean finished();

    /** Alone in a cache that holds no more of it: it ends with "length". */
    void outgrewCache();

    /** Its blocks were taken (its computed tokens are 0): it recomputes its tokens when admitted again. */
    void preempted();
}
