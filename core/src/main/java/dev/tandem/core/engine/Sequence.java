package dev.tandem.core.engine;

import dev.tandem.core.kv.BlockTable;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * A request in flight. Its tokens are the prompt followed by what it generated; {@code computed}
 * of them have keys and values in the cache. Prefill and decode are the same thing here: a
 * sequence catches up its computed tokens with its tokens, a chunk or one token per step.
 */
final class Sequence {
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

    boolean finished() {
        return finishReason != null;
    }

    void append(int token) {
        tokens[length++] = token;
    }

    int[] generated() {
        return Arrays.copyOfRange(tokens, promptLength(), length);
    }
}
