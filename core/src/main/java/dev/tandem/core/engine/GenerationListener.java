package dev.tandem.core.engine;

/**
 * Hears one request's progress on the engine's stepping thread: each generated token as soon as
 * it is sampled, then the end. Implementations must return quickly (hand the work to another
 * thread): the whole batch waits for them.
 */
@FunctionalInterface
public interface GenerationListener {
    /**
     * The request got its KV blocks and runs from the next step: {@code blockTable} is the array
     * that {@link dev.tandem.core.compute.TokenBatch#blockTables} names for its rows until
     * {@link #onDone}, so a {@link dev.tandem.core.model.LayerObserver} can tell its rows apart.
     */
    default void onAdmitted(int[] blockTable) {
    }

    /** A newly generated token; called once per token, in order, before {@link #onDone}. */
    default void onToken(int token) {
    }

    /**
     * As {@link #onToken(int)}, with its log-probabilities where the request asked for them
     * ({@link Request#logprobs}), else null. The engine calls this one; by default it calls that.
     */
    default void onToken(int token, TokenLogprobs logprobs) {
        onToken(token);
    }

    /**
     * The prompt's log-probabilities ({@link Request#promptLogprobs}; null at position 0), once the
     * prompt is read: before its first generated token.
     */
    default void onPromptLogprobs(TokenLogprobs[] promptLogprobs) {
    }

    /** The end: finish reason "stop", "length" or "cancelled". Called exactly
     * once, unless {@link #onError} is. */
    void onDone(Result result);

    /** The request failed (the engine or a node it needs died); instead of {@link #onDone}. */
    default void onError(String message) {
        onDone(new Result(new int[0], null, "error"));
    }
}
