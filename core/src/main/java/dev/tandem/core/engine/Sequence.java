package dev.tandem.core.engine;

import dev.tandem.core.kv.BlockTable;
import dev.tandem.scheduling.BatchedSequence;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * A request in flight. Its tokens are the prompt followed by what it generated; {@code computed}
 * of them have keys and values in the cache. Prefill and decode are the same thing here: a
 * sequence catches up its computed tokens with its tokens, a chunk or one token per step.
 */
final class Sequence implements BatchedSequence {
    final Request request;
    final GenerationListener listener;
    final BlockTable blocks;
    final SplittableRandom random;
    final int limit;      // total tokens (prompt + generated) it may reach
    int[] tokens;
    int length;
    int computed;
    float[] promptLogits;
    TokenLogprobs[] promptLogprobs;
    String finishReason;
    boolean preempted;    // its blocks were taken once; it recomputes its tokens when admitted again
    volatile boolean cancelled;

    Sequence(Request request, int contextLength, GenerationListener listener) {
        this(request, contextLength, listener, new BlockTable());
    }

    /** {@code blocks} may already hold reserved blocks, e.g. a prompt's KV received from a prompt machine. */
    Sequence(Request request, int contextLength, GenerationListener listener, BlockTable blocks) {
        this.request = request;
        this.blocks = blocks;
        this.listener = listener;
        this.random = new SplittableRandom(request.sampling().seed());
        this.limit = request.positions(contextLength);
        this.tokens = Arrays.copyOf(request.prompt(), Math.max(limit, request.prompt().length));
        this.length = request.prompt().length;
    }

    int promptLength() {
        return request.prompt().length;
    }

    @Override
    public boolean finished() {
        return finishReason != null;
    }

    @Override
    public int tokens() {
        return length;
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
        return promptLength();
    }

    @Override
    public int limit() {
        return limit;
    }

    @Override
    public void outgrewCache() {
        finishReason = "length";
    }

    @Override
    public void preempted() {
        preempted = true;
    }

    void append(int token) {
        tokens[length++] = token;
    }

    int[] generated() {
        return Arrays.copyOfRange(tokens, promptLength(), length);
    }
}
