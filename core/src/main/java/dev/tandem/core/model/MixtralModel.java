package dev.tandem.core.model;

import dev.tandem.core.checkpoint.Checkpoint;
import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceWeight;
import dev.tandem.core.compute.KvStorage;
import dev.tandem.core.compute.TokenBatch;
import dev.tandem.core.config.ModelConfig;

/**
 * Mixtral (Jiang et al., 2024, "Mixtral of Experts"): pre-norm decoder layers of RMSNorm,
 * grouped-query attention with RoPE, and a sparse MoE of SwiGLU experts with top-2 routing.
 */
public final class MixtralModel extends DecoderModel {
    private final DeviceWeight[] inputNorm;     // (layer) (hidden)
    private final DeviceWeight[] wq;            // (layer) (heads · headDim, hidden)
    private final DeviceWeight[] wk;            // (layer) (kvHeads · headDim, hidden)
    private final DeviceWeight[] wv;            // (layer) (kvHeads · headDim, hidden)
    private final DeviceWeight[] wo;            // (layer) (hidden, heads · headDim)
    private final DeviceWeight[] postAttnNorm;  // (layer) (hidden)
    private final DeviceWeight[] gate;          // (layer) (experts, hidden)
    private final ExpertFfn[][] experts;        // (layer, expert)
    private final DeviceWeight finalNorm;       // (hidden)

    public MixtralModel(ModelConfig c, ComputeBackend backend, Checkpoint checkpoint, int maxBatchTokens) {
        super(c, backend, checkpoint, maxBatchTokens, "model.embed_tokens.weight", "lm_head.weight");
        int layers = c.numLayers();
        int d = c.hiddenSize();
        inputNorm = new DeviceWeight[layers];
        wq = new DeviceWeight[layers];
        wk = new DeviceWeight[layers];
        wv = new DeviceWeight[layers];
        wo = new DeviceWeight[layers];
        postAttnNorm = new DeviceWeight[layers];
        gate = new DeviceWeight[layers];
        experts = new ExpertFfn[layers][c.numExperts()];
        for (int l = 0; l < layers; l++) {
            String p = "model.layers." + l + ".";
            inputNorm[l] = weight(p + "input_layernorm.weight", d);
            wq[l] = weight(p + "self_attn.q_proj.weight", c.qDim(), d);
            wk[l] = weight(p + "self_attn.k_proj.weight", c.kvDim(), d);
            wv[l] = weight(p + "self_attn.v_proj.weight", c.kvDim(), d);
            wo[l] = weight(p + "self_attn.o_proj.weight", d, c.qDim());
            postAttnNorm[l] = weight(p + "post_attention_layernorm.weight", d);
            gate[l] = weight(p + "block_sparse_moe.gate.weight", c.numExperts(), d);
            for (int e = 0; e < c.numExperts(); e++) {
                String x = p + "block_sparse_moe.experts." + e + ".";
                experts[l][e] = new SwiGluExpert(weight(x + "w1.weight", c.ffnHiddenSize(), d),
                        weight(x + "w3.weight", c.ffnHiddenSize(), d), weight(x + "w2.weight", d, c.ffnHiddenSize()));
            }
        }
        finalNorm = weight("model.norm.weight", d);
    }

    @Override
    protected void layer(int l, TokenBatch batch, KvStorage kv) {
        int rows = batch.size();
        DecoderState s = state;
        backend.rmsNorm(s.normed, s.x, inputNorm[l], config.normEps(), rows);  // h = RMSNorm(x)
        backend.matmul(s.q, s.normed, wq[l], rows);                             // q = h·Wqᵀ
        backend.matmul(s.k, s.normed, wk[l], rows);                             // k = h·Wkᵀ
        backend.matmul(s.v, s.normed, wv[l], rows);                             // v = h·Wvᵀ
        attend(l, batch, kv);                                                   // a = softmax(QKᵀ/√d)·V
        backend.matmul(s.projected, s.attended, wo[l], rows);                   // x = x + a·Woᵀ
        backend.add(s.x, s.projected, rows);
        backend.rmsNorm(s.normed, s.x, postAttnNorm[l], config.normEps(), rows); // h = RMSNorm(x)
        s.moe.forward(s.normed, gate[l], experts[l], s.projected, rows);         // x = x + Σ_top2 g_i·E_i(h)
        backend.add(s.x, s.projected, rows);
    }

    @Override
    protected void finalNorm(int rows) {
        backend.rmsNorm(state.normed, state.x, finalNorm, config.normEps(), rows);
    }

    /** {@code w2 · (silu(w1 · x) ⊙ w3 · x)}. */
    private final class SwiGluExpert implements ExpertFfn {
        private final DeviceWeight w1; // (ffn, hidden)
        private final DeviceWeight w3; // (ffn, hidden)
        private final DeviceWeight w2; // (hidden, ffn)

        SwiGluExpert(DeviceWeight w1, DeviceWeight w3, DeviceWeight w2) {
            this.w1 = w1;
            this.w3 = w3;
            this.w2 = w2;
        }

        @Override
        public void apply(Activations in, Activations g, Activations u, Activations out, int rows) {
            backend.matmul(g, in, w1, rows);
            backend.matmul(u, in, w3, rows);
            backend.siluMul(g, u, rows);
            backend.matmul(out, g, w2, rows);
        }
    }
}
