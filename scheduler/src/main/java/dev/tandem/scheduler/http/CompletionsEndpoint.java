package dev.tandem.scheduler.http;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.TandemException;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.RequestHandle;
import dev.tandem.core.sampling.SamplingParams;
import dev.tandem.scheduler.engine.EngineRejectedException;
import dev.tandem.scheduler.engine.ServedModel;
import io.netty.buffer.ByteBufInputStream;
import io.netty.handler.codec.http.FullHttpRequest;

import java.io.IOException;
import java.io.InputStream;

/**
 * POST /v1/completions and /v1/chat/completions: parse and check the request on the event
 * loop, tokenize a text or chat prompt off it ({@link OffLoop}), hand it to the engine back on
 * the loop (a cheap enqueue), and let a {@link CompletionSession} answer as the tokens come.
 */
final class CompletionsEndpoint implements Endpoint {
    private static final int[] NO_EOS = new int[0];

    private final HttpApiContext context;
    private final boolean chat;

    CompletionsEndpoint(HttpApiContext context, boolean chat) {
        this.context = context;
        this.chat = chat;
    }

    @Override
    public void handle(HttpExchange exchange, FullHttpRequest request) {
        long arrival = System.nanoTime();
        CompletionParams params = CompletionParamsParser.parse(body(request), chat, context.seeds());
        ServedModel model = context.engine().model();
        if (params.model() != null && !params.model().equals(model.name())) {
            throw ApiError.modelNotFound(params.model(), model.name());
        }
        if (params.logprobs() >= 0 && !context.engine().supportsLogprobs()) {
            throw ApiError.badRequest("logprobs are not supported by this engine (the disaggregated one)",
                    chat ? "top_logprobs" : "logprobs");
        }
        if (params.bestOf() > params.n() && !context.engine().supportsLogprobs()) {
            throw ApiError.badRequest("best_of above n ranks candidates by their log-probabilities, which this"
                    + " engine (the disaggregated one) does not report", "best_of");
        }
        if (!params.stop().isEmpty() && context.codec() == null) {
            throw ApiError.badRequest("stop strings need a tokenizer, and this model has none", "stop");
        }
        for (Prompt p : params.prompts()) {
            PromptEncoder.checkLength(p, context.codec(), model);
        }
        if (params.prompts().stream().allMatch(p -> p instanceof Prompt.Ids)) {
            start(exchange, params, encodeAll(params, model), model, arrival);
            return;
        }
        OffLoop.run(exchange, () -> encodeAll(params, model), ids -> start(exchange, params, ids, model, arrival));
    }

    private int[][] encodeAll(CompletionParams params, ServedModel model) {
        int[][] ids = new int[params.prompts().size()][];
        for (int p = 0; p < ids.length; p++) {
            ids[p] = PromptEncoder.encode(params.prompts().get(p), context.codec(), model);
        }
        return ids;
    }

    /**
     * Candidate {@code p · bestOf + i} is prompt p's i-th sample (bestOf = n unless the request asks
     * for more); all are submitted before any answers. With more candidates than choices each one
     * reports its tokens' log-probabilities, by which {@link ChoiceReplies} ranks them.
     */
    private void start(HttpExchange exchange, CompletionParams params, int[][] prompts, ServedModel model,
                       long arrival) {
        int n = params.bestOf();
        int total = prompts.length * n;
        boolean ranked = params.bestOf() > params.n();
        int logprobs = ranked ? Math.max(params.logprobs(), 0) : params.logprobs();
        ChoiceReplies replies = total > 1
                ? new ChoiceReplies(exchange, total, n, params.n(), ranked && params.logprobs() < 0) : null;
        CompletionJson json = new CompletionJson(chat, model.name());
        CompletionSession[] sessions = new CompletionSession[total];
        RequestHandle[] handles = new RequestHandle[total];
        for (int i = 0; i < total; i++) {  // a refusal of any choice refuses them all
            int[] prompt = prompts[i / n];
            int room = model.contextLength() - prompt.length;
            if (params.maxTokens() != null && params.maxTokens() > room) { // refused, as vLLM does, not clamped
                cancel(handles, i);
                throw ApiError.contextLengthExceeded("This model's maximum context length is " + model.contextLength()
                        + " tokens. However, you requested " + (prompt.length + params.maxTokens()) + " tokens ("
                        + prompt.length + " in the prompt, " + params.maxTokens() + " in the completion)",
                        "max_tokens");
            }
            int maxTokens = params.maxTokens() != null ? params.maxTokens()
                    : chat ? room : Math.min(CompletionParams.DEFAULT_COMPLETION_MAX_TOKENS, room);
            SamplingParams s = params.sampling();
            SamplingParams sampling = i % n == 0 ? s : new SamplingParams(s.temperature(), s.topP(), s.seed() + i % n,
                    s.topK(), s.minP());
            Request engineRequest = new Request(prompt, maxTokens, sampling, !params.ignoreEos(), false,
                    logprobs, params.echo() ? logprobs : -1);
            sessions[i] = session(replies == null ? exchange : replies.choice(i), json, params, logprobs,
                    params.prompts().get(i / n), prompt, arrival);
            try {
                handles[i] = submit(engineRequest, sessions[i]);
            } catch (RuntimeException e) {
                cancel(handles, i);
                throw e;
            }
        }
        for (int i = 0; i < total; i++) {
            sessions[i].begin(handles[i], i % n == 0);
        }
    }

    private static void cancel(RequestHandle[] handles, int submitted) {
        for (int k = 0; k < submitted; k++) {
            handles[k].cancel();
        }
    }

    private CompletionSession session(Reply exchange, CompletionJson json, CompletionParams params, int logprobsLevel,
                                      Prompt asked, int[] prompt, long arrival) {
        int promptTokens = prompt.length;
        ServedModel model = context.engine().model();
        CompletionText text = new CompletionText(context.codec() == null ? null : context.codec().newDetokenizer(prompt),
                params.stop(), params.includeStop(), params.stopTokenIds());
        int[] eos = params.ignoreEos() ? NO_EOS : model.eosTokenIds();
        LogprobsJson logprobs = logprobsLevel < 0 ? null : new LogprobsJson(chat, context.codec());
        CompletionSession.Echo echo = !params.echo() ? null : new CompletionSession.Echo(
                asked instanceof Prompt.Text t ? t.text() : context.codec() == null ? ""
                        : context.codec().decode(prompt), prompt);
        return params.stream()
                ? new StreamedCompletion(exchange, json, text, promptTokens, eos, context.metrics(), arrival,
                params.includeUsage(), logprobs, echo)
                : new BufferedCompletion(exchange, json, text, promptTokens, eos, context.metrics(), arrival, logprobs,
                echo);
    }

    private RequestHandle submit(Request request, CompletionSession session) {
        try {
            return context.engine().submit(request, session);
        } catch (EngineRejectedException e) {
            throw e.status() == 429 ? ApiError.rateLimited(e.getMessage(), Math.max(1, e.retryAfterSeconds()))
                    : ApiError.unavailable(e.getMessage());
        } catch (TandemException e) {
            throw ApiError.badRequest(e.getMessage(), "max_tokens");
        }
    }

    /** The request body as JSON; malformed JSON is a 400. */
    static JsonNode body(FullHttpRequest request) {
        try (InputStream in = new ByteBufInputStream(request.content().duplicate())) {
            // one JSON value and nothing after it: trailing bytes are a malformed request, not ignored
            return HttpExchange.json().reader().with(com.fasterxml.jackson.databind.DeserializationFeature
                    .FAIL_ON_TRAILING_TOKENS).readTree(in);
        } catch (JacksonException e) {
            throw ApiError.badRequest("The body is not valid JSON: " + e.getOriginalMessage(), null);
        } catch (IOException e) {
            throw ApiError.badRequest("The body could not be read: " + e.getMessage(), null);
        }
    }
}
