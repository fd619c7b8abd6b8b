package dev.tandem.scheduler.http;

import dev.tandem.core.engine.GenerationListener;
import dev.tandem.core.engine.RequestHandle;
import dev.tandem.core.engine.Result;
import dev.tandem.core.engine.TokenLogprobs;
import dev.tandem.scheduler.metrics.ApiMetrics;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.EventLoop;

import java.util.Arrays;

/**
 * One completion between the engine and its channel. The engine calls the listener methods on
 * its thread; they record timings and hop to the channel's event loop, where the text, the ids
 * and the channel are touched (so no locks). The subclass writes the reply: whole, or streamed.
 * A stop string, a disconnect or the engine's end finishes it exactly once; a stop string and a
 * disconnect cancel the engine request so its KV blocks are freed.
 */
abstract class CompletionSession implements GenerationListener {
    protected final Reply exchange;
    protected final CompletionJson json;
    protected final CompletionText text;
    protected final int promptTokens;
    protected int[] ids = new int[16];  // generated, up to the stop string's last token
    protected int count;
    protected TokenLogprobs[] logprobs = new TokenLogprobs[16]; // parallel to ids where asked for
    protected final LogprobsJson logprobsJson; // null: no logprobs asked for
    protected final Echo echo;                 // null: the prompt is not echoed
    protected TokenLogprobs[] promptLogprobs;  // with echo and logprobs, once the engine has them
    private final EventLoop loop;
    private final ApiMetrics metrics;
    private final int[] eosTokenIds;   // empty with ignore_eos: then EOS is text like any token
    private final long arrivalNanos;
    private final ChannelFutureListener onClientGone = f -> clientGone();
    private long lastTokenNanos;       // engine thread only
    private boolean tokenSeen;         // engine thread only
    private volatile long firstTokenAfterNanos = -1; // since arrival, once the first token came
    private volatile long admittedAfterNanos = -1;   // since arrival, once the engine took it from its queue
    private RequestHandle handle;
    private boolean finished;

    /** An echoed prompt: its text and ids (completions' {@code echo}). */
    record Echo(String text, int[] ids) {
    }

    CompletionSession(Reply exchange, CompletionJson json, CompletionText text, int promptTokens,
                      int[] eosTokenIds, ApiMetrics metrics, long arrivalNanos, LogprobsJson logprobsJson, Echo echo) {
        this.logprobsJson = logprobsJson;
        this.echo = echo;
        this.exchange = exchange;
        this.json = json;
        this.text = text;
        this.promptTokens = promptTokens;
        this.eosTokenIds = eosTokenIds;
        this.metrics = metrics;
        this.arrivalNanos = arrivalNanos;
        this.lastTokenNanos = arrivalNanos;
        this.loop = exchange.channel().eventLoop();
    }

    /**
     * The engine took the request; on the event loop, before any of its tokens is handled.
     * {@code countPrompt}: its prompt's tokens count in the metrics (the first of a prompt's n choices).
     */
    final void begin(RequestHandle handle, boolean countPrompt) {
        this.handle = handle;
        metrics.started(countPrompt ? promptTokens : 0);
        exchange.channel().closeFuture().addListener(onClientGone);
        started();
    }

    @Override
    public final void onPromptLogprobs(TokenLogprobs[] prompt) {
        loop.execute(() -> promptLogprobs = prompt);
    }

    @Override
    public final void onAdmitted(int[] blockTable) {
        if (admittedAfterNanos < 0) {
            admittedAfterNanos = System.nanoTime() - arrivalNanos;
        }
    }

    @Override
    public final void onToken(int token) {
        onToken(token, null);
    }

    @Override
    public final void onToken(int token, TokenLogprobs tokenLogprobs) {
        long now = System.nanoTime();
        if (!tokenSeen) {
            firstTokenAfterNanos = now - arrivalNanos;
        }
        metrics.token(!tokenSeen, now - lastTokenNanos, now);
        tokenSeen = true;
        lastTokenNanos = now;
        loop.execute(() -> tokenOnLoop(token, tokenLogprobs));
    }

    @Override
    public final void onDone(Result result) {
        loop.execute(() -> {
            if (promptLogprobs == null) {
                promptLogprobs = result.promptLogprobs();
            }
            if (!finished) {
                String tail = text.finish();
                end("length".equals(result.finishReason()) ? "length" : "stop", tail);
            }
        });
    }

    @Override
    public final void onError(String message) {
        loop.execute(() -> {
            if (!finished) {
                finish("error");
                failed(ApiError.unavailable(message));
            }
        });
    }

    /** The response is open (a stream writes its headers). */
    protected abstract void started();

    /** The echoed prompt's logprobs: null without logprobs; entry 0 (nothing predicts it) is null. */
    protected final com.fasterxml.jackson.databind.node.ObjectNode echoLogprobs() {
        if (logprobsJson == null) {
            return null;
        }
        TokenLogprobs[] prompt = promptLogprobs != null ? promptLogprobs : new TokenLogprobs[echo.ids().length];
        return logprobsJson.of(echo.ids(), prompt, 0, echo.ids().length);
    }

    /** Logprobs of generated tokens {@code [from, to)}: null without logprobs. */
    protected final com.fasterxml.jackson.databind.node.ObjectNode tokenLogprobs(int from, int to) {
        return logprobsJson == null ? null : logprobsJson.of(ids, logprobs, from, to);
    }

    /** Token {@code ids[count - 1]} arrived and released {@code delta} text. */
    protected abstract void token(String delta);

    /** The end: {@code tail} is the text released by the end itself. */
    protected abstract void completed(String finishReason, String tail);

    protected abstract void failed(ApiError error);

    private void tokenOnLoop(int token, TokenLogprobs tokenLogprobs) {
        if (finished) {
            return;
        }
        if (count == ids.length) {
            ids = Arrays.copyOf(ids, 2 * count);
            logprobs = Arrays.copyOf(logprobs, 2 * count);
        }
        logprobs[count] = tokenLogprobs;
        ids[count++] = token;
        String delta = isEos(token) ? "" : text.append(token);
        token(delta);
        if (text.stopped()) {
            handle.cancel();
            end("stop", "");
        }
    }

    private void end(String finishReason, String tail) {
        finish(finishReason);
        completed(finishReason, tail);
    }

    private void clientGone() {
        if (!finished) {
            finish("abort");
            handle.cancel();
            exchange.abandoned();
        }
    }

    private void finish(String reason) {
        finished = true;
        exchange.channel().closeFuture().removeListener(onClientGone);
        metrics.finished(reason, System.nanoTime() - arrivalNanos, admittedAfterNanos, firstTokenAfterNanos);
    }

    private boolean isEos(int token) {
        for (int eos : eosTokenIds) {
            if (eos == token) {
                return true;
            }
        }
        return false;
    }
}
