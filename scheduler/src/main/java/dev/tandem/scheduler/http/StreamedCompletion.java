package dev.tandem.scheduler.http;

import dev.tandem.scheduler.metrics.ApiMetrics;

/**
 * A completion streamed as server-sent events: a chunk per token (the text it released and its
 * id), a last chunk with the finish reason, the usage chunk if asked for, then [DONE].
 */
final class StreamedCompletion extends CompletionSession {
    private final boolean includeUsage;
    private boolean roleSent;
    private boolean echoSent;

    StreamedCompletion(Reply exchange, CompletionJson json, CompletionText text, int promptTokens,
                       int[] eosTokenIds, ApiMetrics metrics, long arrivalNanos, boolean includeUsage,
                       LogprobsJson logprobsJson, Echo echo) {
        super(exchange, json, text, promptTokens, eosTokenIds, metrics, arrivalNanos, logprobsJson, echo);
        this.includeUsage = includeUsage;
    }

    /** An echoed prompt goes first, in a chunk of its own, once its logprobs are known (with the first token). */
    private void sendEcho() {
        if (echo != null && !echoSent) {
            echoSent = true;
            exchange.event(json.chunk(echo.text(), ids, 0, 0, null, firstChunk(), echoLogprobs()));
        }
    }

    @Override
    protected void started() {
        exchange.startEvents();
    }

    @Override
    protected void token(String delta) {
        sendEcho();
        exchange.event(json.chunk(delta, ids, count - 1, count, null, firstChunk(), tokenLogprobs(count - 1, count)));
    }

    @Override
    protected void completed(String finishReason, String tail) {
        sendEcho();
        if (!tail.isEmpty()) {
            exchange.event(json.chunk(tail, ids, count, count, null, firstChunk(), null));
        }
        exchange.event(json.chunk("", ids, count, count, finishReason, firstChunk(), null));
        if (includeUsage) {
            exchange.event(json.usageChunk(promptTokens, count));
        }
        exchange.endEvents(true, false);
    }

    @Override
    protected void failed(ApiError error) {
        exchange.event(CompletionJson.error(error));
        exchange.endEvents(false, true);
    }

    private boolean firstChunk() {
        boolean first = !roleSent;
        roleSent = true;
        return first;
    }
}
