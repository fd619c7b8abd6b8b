package dev.tandem.scheduling;

import java.util.Arrays;

/**
 * What one engine step runs, as {@link StepScheduler#schedule} planned it: which sequences and
 * which of their tokens, positions [start, start + tokens). Reused from step to step (no
 * allocation on the stepping path); valid until the next schedule.
 *
 * @param <S> the caller's sequence
 */
public final class StepPlan<S extends BatchedSequence> {
    private Object[] sequences = new Object[16];
    private int[] starts = new int[16];
    private int[] counts = new int[16];
    private int size;
    private int promptTokens;
    private int tokens;

    void clear() {
        Arrays.fill(sequences, 0, size, null);
        size = 0;
        promptTokens = 0;
        tokens = 0;
    }

    void add(S s, int start, int count) {
        if (size == sequences.length) {
            sequences = Arrays.copyOf(sequences, 2 * size);
            starts = Arrays.copyOf(starts, 2 * size);
            counts = Arrays.copyOf(counts, 2 * size);
        }
        sequences[size] = s;
        starts[size] = start;
        counts[size] = count;
        size++;
        tokens += count;
        promptTokens += Math.max(0, Math.min(start + count, s.promptTokens()) - start);
    }

    /** Sequences in the step. */
    public int size() {
        return size;
    }

    @SuppressWarnings("unchecked")
    public S sequence(int i) {
        return (S) sequences[i];
    }

    /** The first position the step computes for {@link #sequence}(i). */
    public int start(int i) {
        return starts[i];
    }

    /** How many positions it computes for {@link #sequence}(i). */
    public int tokens(int i) {
        return counts[i];
    }

    /** Whether the step reaches {@link #sequence}(i)'s last token, so that a new one is sampled from it. */
    public boolean catchesUp(int i) {
        return starts[i] + counts[i] == sequence(i).tokens();
    }

    /** Of the step's tokens, those in prompts (a preempted sequence's generated tokens are not). */
    public int promptTokens() {
        return promptTokens;
    }

    public int totalTokens() {
        return tokens;
    }
}
