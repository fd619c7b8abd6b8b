package dev.tandem.core.model;

import dev.tandem.core.compute.Router;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceWeight;
import dev.tandem.core.compute.KvStorage;
import dev.tandem.core.compute.TokenBatch;
import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.kv.PagedKvCache;

import java.util.ArrayList;
import java.util.List;

/**
 * The attention side of a decoder, shared by every architecture: embed, then per layer the
 * architecture's attention block, the gate's top-k routing and the MoE through a
 * {@link MoeDispatch}, then the final norm and the LM head on the rows that want logits.
 *
 * <p>A step may be cut into micro-batches. Layer by layer, micro-batch i's attention runs while
 * the experts work on micro-batch i − 1 (MegaScale-Infer's ping-pong); with one micro-batch and
 * the colocated dispatch this is the plain sequential forward.
 */
abstract class DecoderModel implements CausalLm {
    protected final ModelConfig config;
    protected final ComputeBackend backend;
    protected final WeightSource weights;
    private final int maxBatchTokens;
    private final List<DecoderState> states = new ArrayList<>(); // one per micro-batch, made on first use
    private final Router router;
    private final DeviceWeight embedding; // (vocab, hidden)
    private final DeviceWeight lmHead;    // (vocab, hidden)
    private MoeDispatch dispatch;
    private LayerObserver layerObserver; // null: nobody listens

    DecoderModel(ModelConfig config, ComputeBackend backend, WeightSource weights, int maxBatchTokens,
                 String embeddingName, String lmHeadName) {
        this.config = config;
        this.backend = backend;
        this.weights = weights;
        this.maxBatchTokens = maxBatchTokens;
        this.router = new Router(config.numExperts(), config.expertsPerToken(), config.routerNormP());
        this.embedding = weight(embeddingName, config.vocabSize(), config.hiddenSize());
        this.lmHead = config.tieEmbeddings() && !weights.contains(lmHeadName) ? embedding
                : weight(lmHeadName, config.vocabSize(), config.hiddenSize());
    }

    /** The named checkpoint tensor, checked against the shape config.json implies. */
    protected final DeviceWeight weight(String name, long... shape) {
        return weights.load(backend, name, shape);
    }

    /**
     * One layer's attention block over a micro-batch: {@code x += attention(norm₁(x))}, then
     * {@code normed = norm₂(x)}, the input of the gate and the experts.
     */
    protected abstract void attentionBlock(int layer, DecoderState s, TokenBatch batch, KvStorage kv);

    /** The gate of {@code layer}: (experts, hidden). */
    protected abstract DeviceWeight gate(int layer);

    /** {@code s.normed = finalNorm(s.x)}. */
    protected abstract void finalNorm(DecoderState s, int rows);

    @Override
    public final void useDispatch(MoeDispatch dispatch) {
        this.dispatch = dispatch;
    }

    @Override
    public final void observeLayers(LayerObserver observer) {
        this.layerObserver = observer;
    }

    @Override
    public final void forward(TokenBatch[] microBatches, int count, PagedKvCache cache, float[][] logits) {
        if (dispatch == null) {
            throw new IllegalStateException("no MoE dispatch: call useDispatch first");
        }
        for (int i = 0; i < count; i++) {
            TokenBatch mb = microBatches[i];
            if (mb.size() > maxBatchTokens) {
                throw new IllegalArgumentException(mb.size() + " tokens exceed the batch capacity of " + maxBatchTokens);
            }
            state(i);
        }
        step.set(microBatches, count, cache.storage(), logits);
        try {
            backend.runStep(graphKey(microBatches, count), step);
        } finally {
            step.set(null, 0, null, null);
        }
    }

    /**
     * A step the backend may replay as a graph: one micro-batch of decode tokens (each row its own
     * sequence) whose MoE stays on the device, nobody watching the layers, and at most one result
     * read back at the end. Keyed by rows, the logit rows and whether they are sampled in the model.
     */
    private int graphKey(TokenBatch[] microBatches, int count) {
        if (count != 1 || layerObserver != null) {
            return -1;
        }
        TokenBatch mb = microBatches[0];
        int rows = mb.size();
        if (!dense(rows)) {
            return -1;
        }
        for (int r = 1; r < rows; r++) {
            if (mb.blockTables[r] == mb.blockTables[r - 1]) {
                return -1;                                 // a prompt chunk: its shape seldom repeats
            }
        }
        return (rows << 16) | (mb.logitCount() << 1) | (mb.sampleInModel ? 1 : 0);
    }

    /** The device work of one forward step, as {@link ComputeBackend#runStep} runs it (perhaps twice). */
    private final class Step implements Runnable {
        private TokenBatch[] microBatches;
        private int count;
        private KvStorage kv;
        private float[][] logits;

        void set(TokenBatch[] microBatches, int count, KvStorage kv, float[][] logits) {
            this.microBatches = microBatches;
            this.count = count;
            this.kv = kv;
            this.logits = logits;
        }

        @Override
        public void run() {
            forwardOnBackend(microBatches, count, kv, logits);
        }
    }

    private final Step step = new Step();

    private void forwardOnBackend(TokenBatch[] microBatches, int count, KvStorage kv, float[][] logits) {
        dispatch.beginStep(count);
        for (int i = 0; i < count; i++) {
            TokenBatch mb = microBatches[i];
            backend.embed(state(i).x, embedding, mb.tokens, mb.size());
        }
        for (int l = 0; l < config.numLayers(); l++) {
            for (int i = 0; i < count; i++) {
                DecoderState s = states.get(i);
                int rows = microBatches[i].size();
                if (l > 0) {
                    finishMoe(l - 1, i, s, rows);
                }
                if (rows > 0) {
                    attentionBlock(l, s, microBatches[i], kv);                 // x += attn(norm(x)); normed = norm(x)
                    if (layerObserver != null) {
                        layerObserver.layerDone(l, microBatches[i], kv);       // layer l's K/V of these tokens are final
                    }
                    backend.matmul(s.routerLogits, s.normed, gate(l), rows);   // gate logits
                }
                if (dense(rows)) {                                             // routing stays on the device:
                    backend.routeDense(s.gates, s.routerLogits, config.expertsPerToken(), config.routerNormP(), rows);
                    dispatch.submitDense(l, i, s.normed, s.gates, rows, s.moeOut); // every expert, weighted
                    s.moeInX = false;
                    continue;
                }
                if (rows > 0 && backend.routeToHost(s.routerLogits, config.expertsPerToken(), config.routerNormP(), rows,
                        s.routing.expert, s.routing.weight)) {                 // softmax, top-k, p-norm there
                    s.routing.routed(rows);
                } else {
                    if (rows > 0) {
                        backend.copyToHost(s.routerLogits, rows, s.hostRouterLogits);
                    }
                    s.routing.route(router, s.hostRouterLogits, config.numExperts(), rows); // softmax, top-k, p-norm
                }
                s.moeInX = dispatch.addInto(l, s.normed, s.routing, s.x);     // x += moe, in this process
                if (!s.moeInX) {
                    dispatch.submit(l, i, s.normed, s.routing, s.moeOut);     // experts work on micro-batch i…
                }
            }                                                                  // …while attention takes i + 1
        }
        for (int i = 0; i < count; i++) {
            DecoderState s = states.get(i);
            TokenBatch mb = microBatches[i];
            finishMoe(config.numLayers() - 1, i, s, mb.size());
            if (mb.logitCount() > 0) {
                finalNorm(s, mb.size());
                backend.gatherRows(s.logitIn, s.normed, mb.logitRows, mb.logitCount());
                backend.matmul(s.logits, s.logitIn, lmHead, mb.logitCount());
                if (mb.sampleInModel) {                                        // sampled where the logits are
                    backend.sampleRows(s.logits, mb.logitCount(), mb.temperature, mb.topP, mb.topK, mb.minP, mb.uniform,
                            mb.sampled);
                } else {
                    backend.copyToHost(s.logits, mb.logitCount(), logits[i]);
                }
            }
        }
    }

    /**
     * Whether this micro-batch's MoE runs dense: every expert over every token, weighted by gates
     * routed where the logits are. Taken when the experts are local, the backend asks for it at
     * this size, and the batch is large enough (k·rows ≥ experts) that it would touch nearly
     * every expert anyway, or the dispatch reads only the experts the tokens route to: then it reads
     * the same weights as routing would, without a host round trip. Prefill-sized batches keep
     * routing, which does k/E of the arithmetic.
     */
    private boolean dense(int rows) {
        return rows > 0 && dispatch.acceptsDenseGates() && rows <= backend.denseMoeMaxRows()
                && ((long) rows * config.expertsPerToken() >= config.numExperts() || dispatch.denseReadsOnlyRoutedExperts(rows));
    }

    /** {@code x += Σ_k w_k · E_k(normed)} once the experts are done. */
    private void finishMoe(int layer, int microBatch, DecoderState s, int rows) {
        dispatch.await(layer, microBatch);
        if (!s.moeInX) {
            backend.add(s.x, s.moeOut, rows);
        }
    }

    private DecoderState state(int microBatch) {
        while (states.size() <= microBatch) {
            states.add(new DecoderState(backend, config, maxBatchTokens));
        }
        return states.get(microBatch);
    }

    /**
     * Attention of {@code s.q} over the cache after storing this step's keys and values:
     * {@code s.attended = softmax(rope(q)·rope(k)ᵀ/√d)·v}.
     */
    protected final void attend(int layer, DecoderState s, TokenBatch batch, KvStorage kv) {
        int rows = batch.size();
        backend.rope(s.qk, config.headDim(), config.ropeTheta(), batch.positions, rows); // every head of q and k
        backend.writeKv(kv, layer, s.k, s.v, batch.slots, rows);
        backend.attention(s.attended, s.q, kv, layer, batch, config.headDim(), config.slidingWindow());
    }

    @Override
    public final ModelConfig config() {
        return config;
    }

    @Override
    public final int maxBatchTokens() {
        return maxBatchTokens;
    }

    @Override
    public final int plannedKvTokens(double utilization, Integer requested, int fallback,
                                     java.util.function.Consumer<String> log) {
        if (utilization <= 0 || utilization > 1) {
            throw new dev.tandem.core.TandemException("gpu memory utilization must be in (0, 1], got " + utilization);
        }
        long perToken = backend.kvBytesPerToken(config.numLayers(), config.numKvHeads(), config.headDim());
        long budget = backend.kvMemoryBudget(utilization);
        int tokens;
        if (requested != null) {
            tokens = requested;
        } else if (budget < 0) {
            tokens = fallback;
        } else {
            tokens = (int) Math.min(Integer.MAX_VALUE - 1024, budget / perToken) / 1024 * 1024;
            if (tokens < config.maxPositions() && tokens < 1024) {
                throw new dev.tandem.core.TandemException(String.format(
                        "no room for a KV cache: %.2f GiB left at utilization %.2f, one token takes %d bytes",
                        budget / (double) (1L << 30), utilization, perToken));
            }
        }
        log.accept(String.format("KV cache: %d tokens in %d blocks of %d (%.2f GiB, %d bytes a token); the largest"
                        + " batch at full context (%d positions) is %d", tokens,
                (tokens + SERVING_BLOCK_SIZE - 1) / SERVING_BLOCK_SIZE, SERVING_BLOCK_SIZE,
                (double) tokens * perToken / (1L << 30), perToken, config.maxPositions(),
                tokens / config.maxPositions()));
        return tokens;
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
        weights.close();
    }
}
