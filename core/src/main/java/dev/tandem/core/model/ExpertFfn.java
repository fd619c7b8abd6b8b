package dev.tandem.core.model;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceWeight;

/**
 * One expert's gated feed-forward network, {@code down(silu(x · gateᵀ) ⊙ x · upᵀ)}: Mixtral's
 * SwiGLU ({@code w2(silu(w1 x) · w3 x)}) and DBRX's GLU ({@code w1}, {@code v1}, with {@code w2}
 * stored transposed) alike.
 *
 * @param gate           (ffn, hidden)
 * @param up             (ffn, hidden)
 * @param down           (hidden, ffn), or (ffn, hidden) when {@code downTransposed}
 * @param downTransposed the down projection is {@code h · down}, not {@code h · downᵀ}
 * @param gateUp         gate and up stacked, (2·ffn, hidden), where the backend stacks them (one
 *                       GEMM for both); then gate and up are its row slices. Null otherwise.
 */
public record ExpertFfn(DeviceWeight gate, DeviceWeight up, DeviceWeight down, boolean downTransposed,
                        DeviceWeight gateUp) {
    /** Gate and up stacked by {@code backend} where it can. */
    static ExpertFfn of(ComputeBackend backend, DeviceWeight gate, DeviceWeight up, DeviceWeight down,
                        boolean downTransposed) {
        DeviceWeight stacked = backend.stackRows(gate, up);
        if (stacked == null) {
            return new ExpertFfn(gate, up, down, downTransposed, null);
        }
        int ffn = gate.rows();
        return new ExpertFfn(stacked.rowSlice(0, ffn), stacked.rowSlice(ffn, ffn), down, downTransposed, stacked);
    }

    /**
     * {@code gateUpOut = x · [gate; up]ᵀ} ((rows, 2·ffn), gate in the first half of columns, up in
     * the second), skippable where no row routes to {@code expert} (see {@link ComputeBackend#matmulIfRouted}).
     */
    void gateUpIfRouted(ComputeBackend backend, Activations gateUpOut,
                        Activations x, int rows, Activations gates,
                        int expert) {
        if (gateUp != null) {
            backend.matmulIfRouted(gateUpOut, x, gateUp, rows, gates, expert);
        } else {
            int ffn = gate.rows();
            backend.matmulIfRouted(gateUpOut.columns(0, ffn), x, gate, rows, gates, expert);
            backend.matmulIfRouted(gateUpOut.columns(ffn, ffn), x, up, rows, gates, expert);
        }
    }
}
