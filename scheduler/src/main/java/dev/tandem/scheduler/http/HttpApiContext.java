package dev.tandem.scheduler.http;

import dev.tandem.scheduler.engine.CompletionEngine;
import dev.tandem.scheduler.metrics.ApiMetrics;

/**
 * What the HTTP API serves with.
 *
 * @param codec        text to ids and back, or null when the model has no tokenizer (prompts as
 *                     token ids only, empty text in responses)
 * @param maxBodyBytes larger request bodies get 413
 * @param ioThreads    Netty event loop threads (they only parse, encode and write)
 */
public record HttpApiContext(CompletionEngine engine, TextCodec codec, ApiMetrics metrics, int maxBodyBytes,
                             int ioThreads) {
    public static final int DEFAULT_MAX_BODY_BYTES = 8 << 20;

    public static HttpApiContext of(CompletionEngine engine, TextCodec codec) {
        return new HttpApiContext(engine, codec, new ApiMetrics(), DEFAULT_MAX_BODY_BYTES,
                Math.min(4, Runtime.getRuntime().availableProcessors()));
    }
}
