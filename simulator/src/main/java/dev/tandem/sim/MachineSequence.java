package dev.tandem.sim;

import dev.tandem.scheduling.BatchedSequence;
import dev.tandem.scheduling.CountedKvBlocks;

/**
 * A simulated request's sequence on one machine, as the live engine's is: a prompt machine's runs
 * the prompt and samples the first token (limit = prompt + 1); a token machine's starts with the
 * prompt computed and the first token known; a mixed-pool machine's runs the whole request.
 */
final class MachineSequence implements BatchedSequence, CountedKvBlocks.Holder {
    final Flight flight;
    final int prompt;
    final int limit;
    final boolean prefillOnly; // a split request's prompt machine part: its KV moves on
    int tokens;
    int computed;
    int held;
    boolean finished;

    private MachineSequence(Flight flight, int limit, boolean prefillOnly, int tokens, int computed) {
        this.flight = flight;
        this.prompt = flight.request.promptTokens();
        this.limit = limit;
        this.prefillOnly = prefillOnly;
        this.tokens = tokens;
        this.computed = computed;
    }

    /** The prompt, to its first token: a split request on its prompt machine. */
    static MachineSequence prefill(Flight f) {
        return new MachineSequence(f, f.request.promptTokens() + 1, true, f.request.promptTokens(), 0);
    }

    /** The whole request on one machine: the mixed pool. */
    static MachineSequence whole(Flight f) {
        return new MachineSequence(f, f.request.promptTokens() + f.request.outputTokens(), false,
                f.request.promptTokens(), 0);
    }

    /** A split request on its token machine: the prompt's KV landed, the first token known. */
    static MachineSequence resumed(Flight f) {
        int prompt = f.request.promptTokens();
        MachineSequence s = new MachineSequence(f, prompt + f.request.outputTokens(), false, prompt + 1, prompt);
        s.finished = s.tokens >= s.limit;
        return s;
    }

    @Override
    public int tokens() {
        return tokens;
    }

    @Override
    public int computedTokens() {
        return computed;
    }

    @Override
    public void computedTokens(int computed) {
        this.computed = computed;
    }

    @Override
    public int promptTokens() {
        return prompt;
    }

    @Override
    public int limit() {
        return limit;
    }

    @Override
    public boolean finished() {
        return finished;
    }

    @Override
    public void outgrewCache() {
        finished = true;
    }

    @Override
    public void preempted() {
        // its computed tokens are 0: it recomputes them, chunked, when admitted again
    }

    @Override
    public int heldBlocks() {
        return held;
    }

    @Override
    public void heldBlocks(int blocks) {
        held = blocks;
    }
}
