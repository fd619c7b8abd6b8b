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
        if (logprobsJson == null) {
            return null;
        }
        int prompt = echo.ids().length;
        int[] all = java.util.Arrays.copyOf(echo.ids(), prompt + count);
        System.arraycopy(ids, 0, all, prompt, count);
        dev.tandem.core.engine.TokenLogprobs[] lps = new dev.tandem.core.engine.TokenLogprobs[prompt + count];
        if (promptLogprobs != null) {
            System.arraycopy(promptLogprobs, 0, lps, 0, Math.min(prompt, promptLogprobs.length));
        }
        System.arraycopy(logprobs, 0, lps, prompt, count);
        return logprobsJson.of(all, lps, 0, prompt + count);
    }

    @Override
    protected void failed(ApiError error) {
        exchange.sendError(error);
    }
}
