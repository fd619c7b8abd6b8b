package dev.tandem.scheduler.http;

import dev.tandem.scheduler.metrics.ApiMetrics;
import io.netty.handler.codec.http.HttpResponseStatus;

/** A completion answered in one response once it ends. */
final class BufferedCompletion extends CompletionSession {
    BufferedCompletion(HttpExchange exchange, CompletionJson json, CompletionText text, int promptTokens,
                       int[] eosTokenIds, ApiMetrics metrics, long arrivalNanos) {
        super(exchange, json, text, promptTokens, eosTokenIds, metrics, arrivalNanos);
    }

    @Override
    protected void started() {
    }

    @Override
    protected void token(String delta) {
    }

    @Override
    protected void completed(String finishReason, String tail) {
        exchange.sendJson(HttpResponseStatus.OK, json.whole(text.released(), ids, count, finishReason, promptTokens));
    }

    @Override
    protected void failed(ApiError error) {
        exchange.sendError(error);
    }
}
