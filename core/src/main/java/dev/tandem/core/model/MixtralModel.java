package dev.tandem.core.model;

import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceWeight;
import dev.tandem.core.compute.KvStorage;
import dev.tandem.core.compute.TokenBatch;
import dev.tandem.core.config.ModelConfig;

import java.util.function.IntPredicate;

/**
 * Mixtral (Jiang et al., 2024, "Mixtral of Experts"): pre-norm decoder layers of RMSNorm,
 * grouped-query attention with RoPE, and a sparse MoE of SwiGLU experts with top-2 routing.
 * The instance is the attention side; {@link #experts} loads the expert side.
 */
public final class MixtralModel extends DecoderModel {
    private final DeviceWeight[] inputNorm;     // (layer) (hidden)
    private final DeviceWeight[] wq;            // (layer) (heads · headDim, hidden)
    private final DeviceWeight[] wk;            // (layer) (kvHeads · headDim, hidden)
    private final DeviceWeight[] wv;            // (layer) (kvHeads · headDim, hidden)
    private final DeviceWeight[] wqkv;          // (layer) [wq; wk; wv] where the backend stacks them, else null
    private final DeviceWeight[] wo;            // (layer) (hidden, heads · headDim)
    private final DeviceWeight[] postAttnNorm;  // (layer) (hidden)
    private final DeviceWeight[] gate;          // (layer) (experts, hidden)
    private final DeviceWeight finalNorm;       // (hidden)

    public MixtralModel(ModelConfig c, ComputeBackend backend, WeightSource weights, int maxBatchTokens) {
        super(c, backend, weights, maxBatchTokens, "model.embed_tokens.weight", "lm_head.weight");
        int layers = c.numLayers();
        int d = c.hiddenSize();
        inputNorm = new DeviceWeight[layers];
        wq = new DeviceWeight[layers];
        wk = new DeviceWeight[layers];
        wv = new DeviceWeight[layers];
        wqkv = new DeviceWeight[layers];
        wo = new DeviceWeight[layers];
        postAttnNorm = new DeviceWeight[layers];
        gate = new DeviceWeight[layers];
        for (int l = 0; l < layers; l++) {
            String p = "model.layers." + l + ".";
            inputNorm[l] = weight(p + "input_layernorm.weight", d);
            wq[l] = weight(p + "self_attn.q_proj.weight", c.qDim(), d);
            wk[l] = weight(p + "self_attn.k_proj.weight", c.kvDim(), d);
            wv[l] = weight(p + "self_attn.v_proj.weight", c.kvDim(), d);
            wqkv[l] = backend.stackRows(wq[l], wk[l], wv[l]); // one GEMM for q, k and v where the backend can
            if (wqkv[l] != null) {
                wq[l] = wqkv[l].rowSlice(0, c.qDim());
                wk[l] = wqkv[l].rowSlice(c.qDim(), c.kvDim());
                wv[l] = wqkv[l].rowSlice(c.qDim() + c.kvDim(), c.kvDim());
            }
            wo[l] = weight(p + "self_attn.o_proj.weight", d, c.qDim());
            postAttnNorm[l] = weight(p + "post_attention_layernorm.weight", d);
            gate[l] = weight(p + "block_sparse_moe.gate.weight", c.numExperts(), d);
        }
        finalNorm = weight("model.norm.weight", d);
    }

    @Override
    protected void attentionBlock(int l, DecoderState s, TokenBatch batch, KvStorage kv) {
        int rows = batch.size();
        backend.rmsNorm(s.normed, s.x, inputNorm[l], config.normEps(), rows);   // h = RMSNorm(x)
        if (wqkv[l] != null) {
            backend.matmul(s.qkv, s.normed, wqkv[l], rows);                      // [q k v] = h·[Wq Wk Wv]ᵀ
        } else {
            backend.matmul(s.q, s.normed, wq[l], rows);                          // q = h·Wqᵀ
            backend.matmul(s.k, s.normed, wk[l], rows);                          // k = h·Wkᵀ
            backend.matmul(s.v, s.normed, wv[l], rows);                          // v = h·Wvᵀ
        }
        attend(l, s, batch, kv);                                                 // a = softmax(QKᵀ/√d)·V
        backend.matmul(s.projected, s.attended, wo[l], rows);                    // x = x + a·Woᵀ
        backend.add(s.x, s.projected, rows);
        backend.rmsNorm(s.normed, s.x, postAttnNorm[l], config.normEps(), rows); // h = RMSNorm(x), to the MoE:
    }                                                                            // x = x + Σ_top2 g_i·E_i(h)

    @Override
    protected DeviceWeight gate(int layer) {
        return gate[layer];
    }

    @Override
    protected void finalNorm(DecoderState s, int rows) {
        backend.rmsNorm(s.normed, s.x, finalNorm, config.normEps(), rows);
    }

    /** The SwiGLU experts {@code holds} accepts, (layer, expert); null for the others. */
    static ExpertFfn[][] experts(ModelConfig c, ComputeBackend backend, WeightSource weights, IntPredicate holds) {
        int d = c.hiddenSize();
        int ffn = c.ffnHiddenSize();
        ExpertFfn[][] experts = new ExpertFfn[c.numLayers()][c.numExperts()];
        for (int l = 0; l < c.numLayers(); l++) {
            for (int e = 0; e < c.numExperts(); e++) {
                if (holds.test(e)) {
                    String x = "model.layers." + l + ".block_sparse_moe.experts." + e + ".";
                    experts[l][e] = ExpertFfn.of(backend, weights.load(backend, x + "w1.weight", ffn, d), // w2(silu(w1 x) · w3 x)
                            weights.load(backend, x + "w3.weight", ffn, d), weights.load(backend, x + "w2.weight", d, ffn),
                            false);
                }
            }
        }
        return experts;
    }
}
