package dev.tandem.core.model;

import dev.tandem.core.checkpoint.Checkpoint;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceWeight;
import dev.tandem.core.compute.KvStorage;
import dev.tandem.core.compute.TokenBatch;
import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.kv.PagedKvCache;

/**
 * What every decoder shares: embed, run the layers, final norm, LM head on the rows that want
 * logits. The layers themselves are each architecture's own, in one place.
 */
abstract class DecoderModel implements CausalLm {
    protected final ModelConfig config;
    protected final ComputeBackend backend;
    protected final Checkpoint checkpoint;
    protected final DecoderState state;
    private final DeviceWeight embedding; // (vocab, hidden)
    private final DeviceWeight lmHead;    // (vocab, hidden)

    DecoderModel(ModelConfig config, ComputeBackend backend, Checkpoint checkpoint, int maxBatchTokens,
                 String embeddingName, String lmHeadName) {
        this.config = config;
        this.backend = backend;
        this.checkpoint = checkpoint;
        this.state = new DecoderState(backend, config, maxBatchTokens);
        this.embedding = weight(embeddingName, config.vocabSize(), config.hiddenSize());
        this.lmHead = config.tieEmbeddings() && !checkpoint.contains(lmHeadName) ? embedding
                : weight(lmHeadName, config.vocabSize(), config.hiddenSize());
    }

    /** The named checkpoint tensor, checked against the shape config.json implies. */
    protected final DeviceWeight weight(String name, long... shape) {
        return backend.weight(checkpoint.tensor(name, shape));
    }

    /** One decoder layer over the batch, updating the residual stream {@code state.x} in place. */
    protected abstract void layer(int layer, TokenBatch batch, KvStorage kv);

    /** {@code state.normed = finalNorm(state.x)}. */
    protected abstract void finalNorm(int rows);

    @Override
    public final void forward(TokenBatch batch, PagedKvCache cache, int[] logitRows, int logitCount, float[] logits) {
        int rows = batch.size();
        if (rows > state.capacity || logitCount > state.capacity) {
            throw new IllegalArgumentException(rows + " tokens exceed the batch capacity of " + state.capacity);
        }
        backend.embed(state.x, embedding, batch.tokens, rows);
        for (int l = 0; l < config.numLayers(); l++) {
            layer(l, batch, cache.storage());
        }
        if (logitCount == 0) {
            return;
        }
        finalNorm(rows);
        backend.gatherRows(state.logitIn, state.normed, logitRows, logitCount);
        backend.matmul(state.logits, state.logitIn, lmHead, logitCount);
        backend.copyToHost(state.logits, logitCount, logits);
    }

    /**
     * Attention of {@code state.q} over the cache after storing this step's keys and values:
     * {@code state.attended = softmax(rope(q)·rope(k)ᵀ/√d)·v}.
     */
    protected final void attend(int layer, TokenBatch batch, KvStorage kv) {
        int rows = batch.size();
        backend.rope(state.q, config.headDim(), config.ropeTheta(), batch.positions, rows);
        backend.rope(state.k, config.headDim(), config.ropeTheta(), batch.positions, rows);
        backend.writeKv(kv, layer, state.k, state.v, batch.slots, rows);
        backend.attention(state.attended, state.q, kv, layer, batch, config.headDim(), config.slidingWindow());
    }

    @Override
    public final ModelConfig config() {
        return config;
    }

    @Override
    public final int maxBatchTokens() {
        return state.capacity;
    }

    @Override
    public final PagedKvCache newKvCache(int tokens, int blockSize) {
        int blocks = (tokens + blockSize - 1) / blockSize;
        return new PagedKvCache(backend.allocateKv(config.numLayers(), blocks, blockSize, config.numKvHeads(),
                config.headDim()));
    }

    @Override
    public void close() {
        backend.close();
        checkpoint.close();
    }
}
