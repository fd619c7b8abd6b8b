package dev.tandem.core.model;

import dev.tandem.core.compute.TokenBatch;
import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.kv.PagedKvCache;

/**
 * A decoder-only MoE language model seen from the attention side: one forward step over a batch
 * of tokens from many sequences, cut into micro-batches, with the experts behind a
 * {@link MoeDispatch}.
 */
public interface CausalLm extends AutoCloseable {
    ModelConfig config();

    /** The most tokens one micro-batch takes. */
    int maxBatchTokens();

    /** Positions a block of the serving processes' KV caches holds (vLLM's default block size). */
    int SERVING_BLOCK_SIZE = 16;

    /** A KV cache on this model's backend, for {@code tokens} positions in all. */
    PagedKvCache newKvCache(int tokens, int blockSize);

    /**
     * KV positions for a cache that fills {@code utilization} of the device's memory after the
     * weights, logged with the largest batch that fits at full context; {@code fallback} where the
     * backend does not size it (the CPU) or when {@code requested} is given (not null).
     */
    int plannedKvTokens(double utilization, Integer requested, int fallback, java.util.function.Consumer<String> log);

    /** Where the MoE layers' work goes; set before the first forward. */
    void useDispatch(MoeDispatch dispatch);

    /**
     * Calls {@code observer} after each layer's attention over each micro-batch of every later
     * forward, once that layer's keys and values are stored; null stops it. Set it between steps.
     */
    void observeLayers(LayerObserver observer);

    /**
     * Runs every token of micro-batches {@code [0, count)} through the model, storing keys and
     * values in {@code cache}, and writes the logits of each micro-batch's marked rows to
     * {@code logits[i]} as (marked rows, vocab), row-major.
     */
    void forward(TokenBatch[] microBatches, int count, PagedKvCache cache, float[][] logits);

    /** One micro-batch. */
    default void forward(TokenBatch batch, PagedKvCache cache, float[] logits) {
        forward(new TokenBatch[] {batch}, 1, cache, new float[][] {logits});
    }

    @Override
    void close();
}
