package dev.tandem.core.model;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.config.ModelConfig;

/**
 * Runs experts over routed rows: pair p sends row {@code source[p]} of the input to expert
 * {@code expert[p]} and adds {@code weight[p] · expert(row)} to row {@code target[p]} of the
 * output. One batched FFN per expert over all its pairs, whatever their order. The colocated MoE
 * uses it with token rows; an expert node with the rows that arrived from every attention node.
 */
public final class ExpertExecutor {
    private final ComputeBackend backend;
    private final ExpertBank bank;
    private final Activations expertIn;  // (pairs, hidden)
    private final Activations gate;      // (pairs, ffn)
    private final Activations up;        // (pairs, ffn)
    private final Activations expertOut; // (pairs, hidden)
    private final int[][] sourceOf;      // per expert, its pairs' source rows
    private final int[][] targetOf;      // per expert, its pairs' target rows
    private final float[][] weightOf;    // per expert, its pairs' weights
    private final int[] countOf;
    private final int capacity;

    /** {@code capacity}: the most pairs one {@link #run} takes. */
    public ExpertExecutor(ComputeBackend backend, ModelConfig c, ExpertBank bank, int capacity) {
        this.backend = backend;
        this.bank = bank;
        this.capacity = capacity;
        expertIn = backend.allocate(capacity, c.hiddenSize());
        gate = backend.allocate(capacity, c.ffnHiddenSize());
        up = backend.allocate(capacity, c.ffnHiddenSize());
        expertOut = backend.allocate(capacity, c.hiddenSize());
        sourceOf = new int[c.numExperts()][capacity];
        targetOf = new int[c.numExperts()][capacity];
        weightOf = new float[c.numExperts()][capacity];
        countOf = new int[c.numExperts()];
    }

    /**
     * {@code out[target[p]] += weight[p] · E_expert[p](in[source[p]])} for p in [0, pairs); the
     * caller zeroes {@code out} first where it wants a sum rather than an accumulation.
     */
    public void run(int layer, Activations in, int[] source, int[] expert, float[] weight, int[] target, int pairs,
                    Activations out) {
        if (pairs > capacity) {
            throw new IllegalArgumentException(pairs + " routed rows exceed the expert buffers' " + capacity);
        }
        java.util.Arrays.fill(countOf, 0);
        for (int p = 0; p < pairs; p++) {
            int e = expert[p];
            if (!bank.holds(e)) {
                throw new IllegalArgumentException("expert " + e + " is not held here");
            }
            sourceOf[e][countOf[e]] = source[p];
            targetOf[e][countOf[e]] = target[p];
            weightOf[e][countOf[e]] = weight[p];
            countOf[e]++;
        }
        for (int e = 0; e < countOf.length; e++) {
            int count = countOf[e];
            if (count == 0) {
                continue;
            }
            backend.gatherRows(expertIn, in, sourceOf[e], count);
            bank.expert(layer, e).apply(expertIn, gate, up, expertOut, count);
            backend.scatterAddScaled(out, expertOut, targetOf[e], weightOf[e], count);
        }
    }
}
