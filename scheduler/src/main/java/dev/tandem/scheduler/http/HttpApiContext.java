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
 * @param apiKey       what every /v1 route wants after {@code Authorization: Bearer}; null: open
 */
public record HttpApiContext(CompletionEngine engine, TextCodec codec, ApiMetrics metrics, int maxBodyBytes,
                             int ioThreads, String apiKey) {
    public static final int DEFAULT_MAX_BODY_BYTES = 8 << 20;

    public static HttpApiContext of(CompletionEngine engine, TextCodec codec) {
        return of(engine, codec, null);
    }

    public static HttpApiContext of(CompletionEngine engine, TextCodec codec, String apiKey) {
        return new HttpApiContext(engine, codec, new ApiMetrics(), DEFAULT_MAX_BODY_BYTES,
                Math.min(4, Runtime.getRuntime().availableProcessors()), apiKey);
    }

    /** Whether {@code authorization} (the header, or null) carries the key; constant time. */
    boolean authorized(String authorization) {
        if (apiKey == null) {
            return true;
        }
        byte[] expected = ("Bearer " + apiKey).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        byte[] given = authorization == null ? new byte[0] : authorization.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        return java.security.MessageDigest.isEqual(expected, given);
    }
}
