package dev.tandem.scheduler.engine;

import dev.tandem.core.engine.GenerationListener;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.RequestHandle;

import java.util.Map;

/**
 * Where completions run, seen from the HTTP API: one process holding the whole model
 * ({@link ColocatedEngine}), or a cluster of prompt and token machines. Token ids in, token ids
 * out; text is the API's business.
 */
public interface CompletionEngine extends AutoCloseable {
    ServedModel model();

    /**
     * Starts a request; its tokens and its end reach {@code listener} on an engine thread.
     *
     * @throws EngineRejectedException when it cannot be taken now (queues full: 429, no machine: 503)
     * @throws dev.tandem.core.TandemException when it can never run (ids outside the vocabulary, too long)
     */
    RequestHandle submit(Request request, GenerationListener listener);

    /** False once the engine cannot take requests any more (closed, or failed); /health says 503. */
    default boolean healthy() {
        return true;
    }

    /** Requests waiting per pool (e.g. "prompt", "token", "mixed"), for metrics. */
    Map<String, Integer> queueDepths();

    /** Whether it reports log-probabilities (a request's logprobs); the disaggregated engine does not yet. */
    default boolean supportsLogprobs() {
        return false;
    }

    /** The share of the KV cache in use, 0 to 1; NaN where the engine does not know it here (its pools are remote). */
    /** Per pool of machines (a disaggregated engine's "prompt", "token"): {alive, total}; empty for one engine. */
    default java.util.Map<String, int[]> machines() {
        return java.util.Map.of();
    }

    /** Sequences the engine preempted so far (their KV blocks taken for others; they recompute). */
    default long preemptions() {
        return 0;
    }

    default double kvCacheUsage() {
        return Double.NaN;
    }

    @Override
    void close();
}
