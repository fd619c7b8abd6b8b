package dev.tandem.expert;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceWeight;
import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.model.ExpertBank;
import dev.tandem.core.model.ExpertFfn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * A decode-sized call on a device, run as the colocated model runs its decode MoE: the pair rows
 * that carry one token (same sender, same slot) become one row, its gates over the experts held
 * here, and {@link ComputeBackend#expertsFromGates} runs those experts side by side (or only the
 * routed ones for a few rows) in a few launches. One grouped GEMM a projection over the pair rows,
 * a few rows an expert, reads the weights far below the copy bandwidth. Each token's weighted sum
 * goes back in its first pair row and its other pair rows carry zeros, so the attention node's sum
 * over a token's rows is the same.
 */
final class TokenExperts {
    private final ComputeBackend backend;
    private final int topK;
    private final int maxTokens;
    private final int[] heldIndex;          // expert → its column in the gates, or -1
    private final DeviceWeight[][] gateUp;  // (layer, held expert)
    private final DeviceWeight[][] down;
    private final int[][] tokenOfSlot;      // (sender, slot) → token row this call, or -1
    private final int[] firstRow;           // token → its first pair row
    private final float[] ones;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment hostGates;  // (tokens, held) in host memory, the backend's view below
    private final Activations hostGatesView;
    private final Activations gates;
    private final Activations tokenIn;
    private final Activations tokenOut;

    /** Null where the backend has no MoE from gates or the bank's layout does not suit it (DBRX's transposed down). */
    static TokenExperts create(ComputeBackend backend, ModelConfig c, ExpertBank bank, int senders, int slotsPerSender) {
        int maxTokens = Math.min(senders * slotsPerSender, backend.expertsFromGatesMaxRows());
        if (maxTokens <= 0 || !backend.stagesHostRows()) {
            return null;
        }
        for (int e = 0; e < c.numExperts(); e++) {
            if (bank.holds(e)) {
                ExpertFfn ffn = bank.expert(0, e);
                return ffn.gateUp() == null || ffn.downTransposed() ? null
                        : new TokenExperts(backend, c, bank, senders, slotsPerSender, maxTokens);
            }
        }
        return null;
    }

    private TokenExperts(ComputeBackend backend, ModelConfig c, ExpertBank bank, int senders, int slotsPerSender,
                         int maxTokens) {
        this.backend = backend;
        this.topK = c.expertsPerToken();
        this.maxTokens = maxTokens;
        heldIndex = new int[c.numExperts()];
        int held = 0;
        for (int e = 0; e < heldIndex.length; e++) {
            heldIndex[e] = bank.holds(e) ? held++ : -1;
        }
        gateUp = new DeviceWeight[c.numLayers()][held];
        down = new DeviceWeight[c.numLayers()][held];
        for (int l = 0; l < c.numLayers(); l++) {
            for (int e = 0; e < heldIndex.length; e++) {
                if (heldIndex[e] >= 0) {
                    gateUp[l][heldIndex[e]] = bank.expert(l, e).gateUp();
                    down[l][heldIndex[e]] = bank.expert(l, e).down();
                }
            }
        }
        tokenOfSlot = new int[senders][slotsPerSender];
        for (int[] slots : tokenOfSlot) {
            Arrays.fill(slots, -1);
        }
        firstRow = new int[maxTokens];
        ones = new float[maxTokens];
        Arrays.fill(ones, 1f);
        hostGates = arena.allocate((long) maxTokens * held * Float.BYTES, 64);
        hostGatesView = backend.wrapHost(hostGates, maxTokens, held);
        gates = backend.allocate(maxTokens, held);
        tokenIn = backend.allocate(maxTokens, c.hiddenSize());
        tokenOut = backend.allocate(maxTokens, c.hiddenSize());
    }

    /**
     * Runs the call if its tokens fit: {@code out[first row of t] = Σ gate · E(in[t])}, zeros in the
     * token's other rows. Returns false (nothing done) for more tokens than this path takes.
     */
    boolean run(int layer, Activations in, int rows, int[] senderOfRow, int[] slotOfRow, int[] expertOfRow,
                float[] weightOfRow, Activations out) {
        int held = gateUp[layer].length;
        int tokens = 0;
        boolean fits = true;
        for (int r = 0; r < rows; r++) {
            int[] slots = tokenOfSlot[senderOfRow[r]];
            int slot = slotOfRow[r];
            if (slot < 0 || slot >= slots.length) {
                throw new IllegalArgumentException("slot " + slot + " of row " + r + " is outside [0, " + slots.length + ")");
            }
            if (slots[slot] < 0) {
                if (tokens == maxTokens) {
                    fits = false;
                    break;
                }
                firstRow[tokens] = r;
                for (int e = 0; e < held; e++) { // this token's row of gates starts at zero
                    hostGates.set(ValueLayout.JAVA_FLOAT, ((long) tokens * held + e) * Float.BYTES, 0f);
                }
                slots[slot] = tokens++;
            }
            int column = heldIndex[expertOfRow[r]];
            if (column < 0) {
                throw new IllegalArgumentException("expert " + expertOfRow[r] + " is not held here");
            }
            long at = ((long) slots[slot] * held + column) * Float.BYTES;
            hostGates.set(ValueLayout.JAVA_FLOAT, at, hostGates.get(ValueLayout.JAVA_FLOAT, at) + weightOfRow[r]);
        }
        for (int r = 0; r < rows; r++) { // forget this call's tokens
            tokenOfSlot[senderOfRow[r]][slotOfRow[r]] = -1;
        }
        if (!fits) {
            return false;
        }
        backend.copyRows(gates, hostGatesView, tokens);
        backend.gatherRows(tokenIn, in, firstRow, tokens);
        backend.expertsFromGates(tokenOut, tokenIn, gates, topK, gateUp[layer], down[layer], tokens);
        backend.zero(out, rows);
        backend.scatterAddScaled(out, tokenOut, firstRow, ones, tokens);
        return true; // the caller waits for the device before the next call rewrites the host gates
    }
}
