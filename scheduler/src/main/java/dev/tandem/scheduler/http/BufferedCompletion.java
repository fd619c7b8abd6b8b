package dev.tandem.scheduler.http;

import dev.tandem.scheduler.metrics.ApiMetrics;
import io.netty.handler.codec.http.HttpResponseStatus;

/** A completion answered in one response once it ends. */
final class BufferedCompletion extends CompletionSession {
    BufferedCompletion(Reply exchange, CompletionJson json, CompletionText text, int promptTokens,
                       int[] eosTokenIds, ApiMetrics metrics, long arrivalNanos, LogprobsJson logprobsJson, Echo echo) {
        super(exchange, json, text, promptTokens, eosTokenIds, metrics, arrivalNanos, logprobsJson, echo);
    }

    @Override
    protected void started() {
    }

    @Override
    protected void token(String delta) {
    }

    @Override
    protected void completed(String finishReason, String tail) {
        String whole = (echo != null ? echo.text() : "") + text.released();
        exchange.sendJson(HttpResponseStatus.OK, json.whole(whole, ids, count, finishReason, promptTokens,
                echo != null ? echoedLogprobs() : tokenLogprobs(0, count)));
    }

    /** The prompt's logprobs, then the completion's, in one set of arrays; null without logprobs. */
    private com.fasterxml.jackson.databind.node.ObjectNode echoedLogprobs() {
        com.fasterxml.jackson.databind.node.ObjectNode node = echoLogprobs();
        return node == null ? null : logprobsJson.append(node, ids, logprobs, 0, count);
    }

    @Override
    protected void failed(ApiError error) {
        exchange.sendError(error);
    }
}
