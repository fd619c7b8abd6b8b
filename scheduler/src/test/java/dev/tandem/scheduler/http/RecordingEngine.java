package dev.tandem.scheduler.http;

import dev.tandem.core.engine.GenerationListener;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.RequestHandle;
import dev.tandem.core.engine.Result;
import dev.tandem.scheduler.engine.CompletionEngine;
import dev.tandem.scheduler.engine.ServedModel;

import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;

/** Passes requests to a real engine and keeps the results the engine reported, for tests to await. */
final class RecordingEngine implements CompletionEngine {
    private final CompletionEngine engine;
    final BlockingQueue<Result> results = new LinkedBlockingQueue<>();

    RecordingEngine(CompletionEngine engine) {
        this.engine = engine;
    }

    @Override
    public ServedModel model() {
        return engine.model();
    }

    @Override
    public RequestHandle submit(Request request, GenerationListener listener) {
        return engine.submit(request, new GenerationListener() {
            @Override
            public void onToken(int token) {
                listener.onToken(token);
            }

            @Override
            public void onDone(Result result) {
                results.add(result);
                listener.onDone(result);
            }

            @Override
            public void onError(String message) {
                listener.onError(message);
            }
        });
    }

    @Override
    public Map<String, Integer> queueDepths() {
        return engine.queueDepths();
    }

    @Override
    public void close() {
        engine.close();
    }
}
