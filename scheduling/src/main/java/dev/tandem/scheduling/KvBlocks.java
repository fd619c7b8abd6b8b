package dev.tandem.scheduling;

/**
 * A machine's KV cache as continuous batching sees it: blocks a sequence holds and the ones free.
 * The live engine's is its paged cache; the simulator's only counts.
 *
 * @param <S> the caller's sequence
 */
public interface KvBlocks<S> {
    /** Grows what {@code s} holds to cover positions [0, {@code positions}); false, and nothing taken, if short. */
    boolean reserve(S s, int positions);

    /** Frees every block {@code s} holds. */
    void release(S s);

    int freeBlocks();

    int totalBlocks();

    int blocksFor(int positions);

    int heldBlocks(S s);
}
