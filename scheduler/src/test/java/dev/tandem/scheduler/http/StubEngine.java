package dev.tandem.scheduler.http;

import dev.tandem.core.engine.GenerationListener;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.RequestHandle;
import dev.tandem.scheduler.engine.CompletionEngine;
import dev.tandem.scheduler.engine.ServedModel;

import java.util.Map;
import java.util.function.BiFunction;

/** A CompletionEngine whose submit does what the test says (reject, fail later), with no model. */
final class StubEngine implements CompletionEngine {
    static final ServedModel MODEL = new ServedModel("stub", 64, 512, new int[] {2});

    private final BiFunction<Request, GenerationListener, RequestHandle> submit;
    volatile boolean healthy = true;

    StubEngine(BiFunction<Request, GenerationListener, RequestHandle> submit) {
        this.submit = submit;
    }

    /** Generates {@code token} once on another thread, then fails with {@code message}. */
    static StubEngine failingAfterOneToken(int token, String message) {
        return new StubEngine((request, listener) -> {
            Thread.ofVirtual().start(() -> {
                listener.onToken(token);
                listener.onError(message);
            });
            return () -> { };
        });
    }

    @Override
    public ServedModel model() {
        return MODEL;
    }

    @Override
    public RequestHandle submit(Request request, GenerationListener listener) {
        return submit.apply(request, listener);
    }

    @Override
    public boolean healthy() {
        return healthy;
    }

    @Override
    public Map<String, Integer> queueDepths() {
        return Map.of("stub", 0);
    }

    @Override
    public void close() {
        healthy = false;
    }
}
