package dev.tandem.core.model;

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
 */
public record ExpertFfn(DeviceWeight gate, DeviceWeight up, DeviceWeight down, boolean downTransposed) {
    /** {@code out = h · down(ᵀ)}. */
    void project(ComputeBackend backend, dev.tandem.core.compute.Activations out, dev.tandem.core.compute.Activations h,
                 int rows) {
        if (downTransposed) {
            backend.matmulTransposed(out, h, down, rows);
        } else {
            backend.matmul(out, h, down, rows);
        }
    }
}
