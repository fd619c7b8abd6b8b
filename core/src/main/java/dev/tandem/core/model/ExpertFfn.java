package dev.tandem.core.model;

import dev.tandem.core.compute.Activations;

/** One expert's feed-forward network over a batch of the tokens routed to it. */
public interface ExpertFfn {
    /**
     * {@code out = ffn(in)} for {@code rows} tokens; {@code gate} and {@code up} are (rows, ffn)
     * scratch.
     */
    void apply(Activations in, Activations gate, Activations up, Activations out, int rows);
}
