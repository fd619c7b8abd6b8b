package dev.tandem.core.engine;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A listener that keeps what it hears: the tokens in order, the first one as a future, and the
 * end as a future that fails with the engine's message. For callers that wait rather than stream.
 */
public final class TokenCollector implements GenerationListener {
    private final List<Integer> tokens = new CopyOnWriteArrayList<>();
    private final CompletableFuture<Integer> firstToken = new CompletableFuture<>();
    private final CompletableFuture<Result> result = new CompletableFuture<>();

    /** The tokens heard so far, in order; any thread may read. */
    public List<Integer> tokens() {
        return tokens;
    }

    /** The first token; −1 if the request ended without one. */
    public CompletableFuture<Integer> firstToken() {
        return firstToken;
    }

    /** The result, or an {@link IllegalStateException} with the engine's message. */
    public CompletableFuture<Result> result() {
        return result;
    }

    @Override
    public void onToken(int token) {
        tokens.add(token);
        firstToken.complete(token);
    }

    @Override
    public void onDone(Result r) {
        firstToken.complete(-1);
        result.complete(r);
    }

    @Override
    public void onError(String message) {
        firstToken.complete(-1);
        result.completeExceptionally(new IllegalStateException(message));
    }
}
