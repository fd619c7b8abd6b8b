package dev.tandem.core.model;

import dev.tandem.core.compute.TokenBatch;
import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.kv.PagedKvCache;

/** A decoder-only language model: one forward step over a batch of tokens from many sequences. */
public interface CausalLm extends AutoCloseable {
    ModelConfig config();

    /** The most tokens one {@link #forward} call takes. */
    int maxBatchTokens();

    /** A KV cache on this model's backend, for {@code tokens} positions in all. */
    PagedKvCache newKvCache(int tokens, int blockSize);

    /**
     * Runs every token of {@code batch} through the model, storing keys and values in
     * {@code cache}, and writes the logits of batch rows {@code logitRows[0..logitCount)} to
     * {@code logits} as (logitCount, vocab), row-major.
     */
    void forward(TokenBatch batch, PagedKvCache cache, int[] logitRows, int logitCount, float[] logits);

    @Override
    void close();
}
