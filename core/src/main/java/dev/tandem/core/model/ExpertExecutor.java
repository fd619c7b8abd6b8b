package dev.tandem.core.model;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceWeight;
import dev.tandem.core.config.ModelConfig;

import java.util.Arrays;

/**
 * Runs experts over routed rows: pair p sends row {@code source[p]} of the input to expert
 * {@code expert[p]} and adds {@code weight[p] · expert(row)} to row {@code target[p]} of the
 * output. The pairs are sorted by expert (a counting sort), their rows gathered once into one
 * buffer, and each projection runs as one grouped GEMM over all experts' row ranges; every
 * target row then takes its pairs' weighted outputs in pair order. The colocated MoE uses it
 * with token rows; an expert node with the rows that arrived from every attention node.
 */
public final class ExpertExecutor {
    private final ComputeBackend backend;
    private final ExpertBank bank;
    private final Activations expertIn;  // (pairs, hidden) sorted by expert
    private final Activations gateUp;    // (pairs, 2·ffn): gate | up, where the bank's experts are stacked; else null
    private final Activations gate;      // (pairs, ffn), where the experts are not stacked; else null
    private final Activations up;        // (pairs, ffn), likewise
    private final Activations expertOut; // (pairs, hidden)
    private final int capacity;
    private final int[] countOf;         // per expert
    private final int[] offsets;         // per group (expert that has pairs), its first sorted row; then the end
    private final DeviceWeight[] gates;  // per group
    private final DeviceWeight[] ups;
    private final DeviceWeight[] gateUps; // per group, where every group's expert has gate and up stacked
    private final DeviceWeight[] downs;
    private final int[] sortedSource;    // sorted row → input row
    private final int[] sortedOf;        // pair → sorted row
    private final int[] targets;         // distinct target rows, in order of first appearance
    private final int[] targetStart;     // per target, its first entry in the lists below; then the end
    private final int[] listSource;      // per entry, the sorted row it adds…
    private final float[] listWeight;    // …with this weight
    private final int[] cursor;          // per target, entries counted, then the next entry to fill
    private int[] slotOf = new int[0];   // target row → its index in targets, or -1 (grown on demand)

    /** {@code capacity}: the most pairs one {@link #run} takes. */
    public ExpertExecutor(ComputeBackend backend, ModelConfig c, ExpertBank bank, int capacity) {
        this.backend = backend;
        this.bank = bank;
        this.capacity = capacity;
        expertIn = backend.allocate(capacity, c.hiddenSize());
        if (stackedBank(bank, c)) { // one GEMM writes both halves
            gateUp = backend.allocate(capacity, 2 * c.ffnHiddenSize()); // scratch of backend.expertGroups
            gate = null;
            up = null;
        } else { // contiguous halves: the CPU's batched matmul is bound by reading its input rows
            gateUp = null;
            gate = backend.allocate(capacity, c.ffnHiddenSize());
            up = backend.allocate(capacity, c.ffnHiddenSize());
        }
        expertOut = backend.allocate(capacity, c.hiddenSize());
        int experts = c.numExperts();
        countOf = new int[experts];
        offsets = new int[experts + 1];
        gates = new DeviceWeight[experts];
        ups = new DeviceWeight[experts];
        gateUps = new DeviceWeight[experts];
        downs = new DeviceWeight[experts];
        sortedSource = new int[capacity];
        sortedOf = new int[capacity];
        targets = new int[capacity];
        targetStart = new int[capacity + 1];
        listSource = new int[capacity];
        listWeight = new float[capacity];
        cursor = new int[capacity];
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
        if (pairs == 0) {
            return;
        }
        int groups = sortByExpert(layer, expert, source, pairs);
        boolean stacked = gateUp != null;
        boolean transposed = bank.expert(layer, expert[0]).downTransposed(); // one architecture per bank
        backend.gatherRows(expertIn, in, sortedSource, pairs);                       // rows sorted by expert
        if (stacked) { // x · [gate up]ᵀ, silu(g) ⊙ u, down: per expert
            backend.expertGroups(expertOut, expertIn, gateUp, gateUps, downs, offsets, groups, transposed);
        } else {
            backend.matmulGroups(gate, expertIn, gates, offsets, groups, false);    // x · gateᵀ per expert
            backend.matmulGroups(up, expertIn, ups, offsets, groups, false);        // x · upᵀ
            backend.siluMul(gate, up, pairs);                                       // silu(g) ⊙ u
            backend.matmulGroups(expertOut, gate, downs, offsets, groups, transposed); // down projection
        }
        int count = listByTarget(target, weight, pairs);
        backend.combineRows(out, expertOut, targets, targetStart, listSource, listWeight, count);
    }

    /** Whether the bank's experts have gate and up stacked (the backend stacks all or none). */
    private static boolean stackedBank(ExpertBank bank, ModelConfig c) {
        for (int e = 0; e < c.numExperts(); e++) {
            if (bank.holds(e)) {
                return bank.expert(0, e).gateUp() != null;
            }
        }
        return false;
    }

    /** Fills the groups (experts with pairs, in index order), their weights and row ranges. */
    private int sortByExpert(int layer, int[] expert, int[] source, int pairs) {
        Arrays.fill(countOf, 0);
        for (int p = 0; p < pairs; p++) { // on the host's critical path (the device waits): plain array work
            int e = expert[p];
            if (e < 0 || e >= countOf.length) {
                throw new IllegalArgumentException("expert " + e + " of " + countOf.length);
            }
            countOf[e]++;
        }
        int groups = 0;
        int row = 0;
        for (int e = 0; e < countOf.length; e++) {
            if (countOf[e] == 0) {
                continue;
            }
            if (!bank.holds(e)) {
                throw new IllegalArgumentException("expert " + e + " is not held here");
            }
            ExpertFfn ffn = bank.expert(layer, e);
            gates[groups] = ffn.gate();
            ups[groups] = ffn.up();
            gateUps[groups] = ffn.gateUp();
            downs[groups] = ffn.down();
            offsets[groups] = row;
            groups++;
            row += countOf[e];
        }
        offsets[groups] = row;
        // each expert's next free sorted row, reusing countOf as the cursor
        int next = 0;
        for (int e = 0; e < countOf.length; e++) {
            int n = countOf[e];
            countOf[e] = next;
            next += n;
        }
        for (int p = 0; p < pairs; p++) {
            int at = countOf[expert[p]]++;
            sortedSource[at] = source[p];
            sortedOf[p] = at;
        }
        return groups;
    }

    /** Lists the pairs by target row, each target's entries in pair order. Returns the targets. */
    private int listByTarget(int[] target, float[] weight, int pairs) {
        int maxTarget = 0;
        for (int p = 0; p < pairs; p++) {
            maxTarget = Math.max(maxTarget, target[p]);
        }
        if (slotOf.length <= maxTarget) {
            slotOf = new int[Math.max(maxTarget + 1, 2 * slotOf.length)];
            Arrays.fill(slotOf, -1);
        }
        int count = 0;
        for (int p = 0; p < pairs; p++) {
            int t = target[p];
            if (slotOf[t] < 0) {
                slotOf[t] = count;
                targets[count] = t;
                cursor[count] = 0;
                count++;
            }
            cursor[slotOf[t]]++;
        }
        targetStart[0] = 0;
        for (int i = 0; i < count; i++) {
            targetStart[i + 1] = targetStart[i] + cursor[i];
            cursor[i] = targetStart[i];
        }
        for (int p = 0; p < pairs; p++) {
            int at = cursor[slotOf[target[p]]]++;
            listSource[at] = sortedOf[p];
            listWeight[at] = weight[p];
        }
        for (int i = 0; i < count; i++) {
            slotOf[targets[i]] = -1;
        }
        return count;
    }
}
