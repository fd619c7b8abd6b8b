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
 * @param limits       connections and timeouts
 * @param allowedOrigins browser origins allowed to call the API cross-origin (CORS); a request
 *                     from any other origin is refused with 403
 * @param seeds        the seed of each request that names none: random, or a sequence fixed by
 *                     the server's {@code --seed} (then a restarted server samples as before)
 */
public record HttpApiContext(CompletionEngine engine, TextCodec codec, ApiMetrics metrics, int maxBodyBytes,
                             int ioThreads, String apiKey, Limits limits, java.util.Set<String> allowedOrigins,
                             java.util.function.LongSupplier seeds) {
    public static final int DEFAULT_MAX_BODY_BYTES = 8 << 20;

    /**
     * @param maxConnections   open at once; beyond, a new connection is answered 503 and closed
     * @param requestTimeoutMs a connection must deliver a whole request within this, from opening
     *                         and after each response (answering is not timed)
     */
    public record Limits(int maxConnections, long requestTimeoutMs) {
        public static final Limits DEFAULT = new Limits(1024, 30_000);

        public Limits {
            if (maxConnections < 1 || requestTimeoutMs < 1) {
                throw new IllegalArgumentException("connection limit and request timeout must be >= 1");
            }
        }
    }

    public HttpApiContext(CompletionEngine engine, TextCodec codec, ApiMetrics metrics, int maxBodyBytes, int ioThreads,
                          String apiKey) {
        this(engine, codec, metrics, maxBodyBytes, ioThreads, apiKey, Limits.DEFAULT, java.util.Set.of(),
                randomSeeds());
    }

    /** Seeds no one can predict, as OpenAI's and vLLM's servers draw them. */
    private static java.util.function.LongSupplier randomSeeds() {
        java.security.SecureRandom random = new java.security.SecureRandom();
        return random::nextLong;
    }

    public HttpApiContext {
        allowedOrigins = java.util.Set.copyOf(allowedOrigins);
    }

    /** This context with other limits. */
    public HttpApiContext withLimits(Limits newLimits) {
        return new HttpApiContext(engine, codec, metrics, maxBodyBytes, ioThreads, apiKey, newLimits, allowedOrigins,
                seeds);
    }

    /** This context letting browsers on {@code origins} call it ({@code *}: any origin). */
    public HttpApiContext withAllowedOrigins(java.util.Set<String> origins) {
        return new HttpApiContext(engine, codec, metrics, maxBodyBytes, ioThreads, apiKey, limits, origins, seeds);
    }

    /**
     * This context drawing the seeds of seedless requests from one generator seeded with
     * {@code seed} (vLLM's {@code --seed}): the same requests in the same order sample the same.
     */
    public HttpApiContext withSeed(long seed) {
        java.util.SplittableRandom random = new java.util.SplittableRandom(seed);
        java.util.function.LongSupplier sequence = () -> {
            synchronized (random) {
                return random.nextLong();
            }
        };
        return new HttpApiContext(engine, codec, metrics, maxBodyBytes, ioThreads, apiKey, limits, allowedOrigins,
                sequence);
    }

    /** Whether a request that names {@code origin} (the Origin header, or null: not a browser's) may be answered. */
    boolean originAllowed(String origin) {
        return origin == null || allowedOrigins.contains("*") || allowedOrigins.contains(origin);
    }

    public static HttpApiContext of(CompletionEngine engine, TextCodec codec) {
        return of(engine, codec, null);
    }

    public static HttpApiContext of(CompletionEngine engine, TextCodec codec, String apiKey) {
        return new HttpApiContext(engine, codec, new ApiMetrics(engine.model().name()), DEFAULT_MAX_BODY_BYTES,
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
