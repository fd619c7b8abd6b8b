package dev.tandem.core.model;

import dev.tandem.core.compute.Activations;

/** One expert's feed-forward network over a batch of the tokens routed to it. */
public interface ExpertFfn {
    /**
     * {@code out = ffn(in)} for {@code rows} tokens; {@code gate} and {@code up} are (rows, ffn)
     * scratch.
     */
    void apply(Activations in, Activations gate, Activations up, Activations out, int rows);

    /**
     * {@code out = ffn(in)} with each row's hidden activations scaled by {@code gates[row, expert]}
     * before the down projection: this expert's weighted share of every row (zero where the row
     * was not routed here), for the dense MoE.
     */
    void applyScaled(Activations in, Activations gate, Activations up, Activations out, int rows, Activations gates,
                     int expert);
}
