package dev.tandem.core.model;

import dev.tandem.core.checkpoint.Checkpoint;
import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceWeight;
import dev.tandem.core.compute.KvStorage;
import dev.tandem.core.compute.TokenBatch;
import dev.tandem.core.config.ModelConfig;

/**
 * DBRX (Databricks, 2024): pre-norm decoder layers of bias-free LayerNorm, a fused Wqkv
 * projection clipped to ±clip_qkv, grouped-query attention with RoPE, and a fine-grained MoE of
 * 16 GLU experts with top-4 routing whose weights are divided by their p-norm.
 */
public final class DbrxModel extends DecoderModel {
    private final DeviceWeight[] norm1;   // (layer) (d_model)
    private final DeviceWeight[] wqkv;    // (layer) (heads·headDim + 2·kvHeads·headDim, d_model)
    private final DeviceWeight[] outProj; // (layer) (d_model, heads·headDim)
    private final DeviceWeight[] norm2;   // (layer) (d_model)
    private final DeviceWeight[] router;  // (layer) (experts, d_model)
    private final ExpertFfn[][] experts;  // (layer, expert)
    private final DeviceWeight finalNorm; // (d_model)

    public DbrxModel(ModelConfig c, ComputeBackend backend, Checkpoint checkpoint, int maxBatchTokens) {
        super(c, backend, checkpoint, maxBatchTokens, "transformer.wte.weight", "lm_head.weight");
        int layers = c.numLayers();
        int d = c.hiddenSize();
        int ffn = c.ffnHiddenSize();
        norm1 = new DeviceWeight[layers];
        wqkv = new DeviceWeight[layers];
        outProj = new DeviceWeight[layers];
        norm2 = new DeviceWeight[layers];
        router = new DeviceWeight[layers];
        experts = new ExpertFfn[layers][c.numExperts()];
        for (int l = 0; l < layers; l++) {
            String p = "transformer.blocks." + l + ".";
            norm1[l] = weight(p + "norm_attn_norm.norm_1.weight", d);
            wqkv[l] = weight(p + "norm_attn_norm.attn.Wqkv.weight", c.qDim() + 2L * c.kvDim(), d);
            outProj[l] = weight(p + "norm_attn_norm.attn.out_proj.weight", d, c.qDim());
            norm2[l] = weight(p + "norm_attn_norm.norm_2.weight", d);
            router[l] = weight(p + "ffn.router.layer.weight", c.numExperts(), d);
            long fused = (long) c.numExperts() * ffn;
            DeviceWeight w1 = weight(p + "ffn.experts.mlp.w1", fused, d);
            DeviceWeight v1 = weight(p + "ffn.experts.mlp.v1", fused, d);
            DeviceWeight w2 = weight(p + "ffn.experts.mlp.w2", fused, d);
            for (int e = 0; e < c.numExperts(); e++) {
                experts[l][e] = new GluExpert(w1.rowSlice(e * ffn, ffn), v1.rowSlice(e * ffn, ffn),
                        w2.rowSlice(e * ffn, ffn));
            }
        }
        finalNorm = weight("transformer.norm_f.weight", d);
    }

    @Override
    protected void layer(int l, TokenBatch batch, KvStorage kv) {
        int rows = batch.size();
        DecoderState s = state;
        backend.layerNorm(s.normed, s.x, norm1[l], config.normEps(), rows);   // h = LayerNorm(x)
        backend.matmul(s.qkv, s.normed, wqkv[l], rows);                        // [q k v] = h·Wqkvᵀ
        if (!Float.isNaN(config.clipQkv())) {
            backend.clamp(s.qkv, config.clipQkv(), rows);                      // clipped to ±clip_qkv
        }
        attend(l, batch, kv);                                                  // a = softmax(QKᵀ/√d)·V
        backend.matmul(s.projected, s.attended, outProj[l], rows);             // x = x + a·Woᵀ
        backend.add(s.x, s.projected, rows);
        backend.layerNorm(s.normed, s.x, norm2[l], config.normEps(), rows);   // h = LayerNorm(x)
        s.moe.forward(s.normed, router[l], experts[l], s.projected, rows);     // x = x + Σ_top4 g_i·E_i(h)
        backend.add(s.x, s.projected, rows);
    }

    @Override
    protected void finalNorm(int rows) {
        backend.layerNorm(state.normed, state.x, finalNorm, config.normEps(), rows);
    }

    /** {@code (silu(x · w1ᵀ) ⊙ x · v1ᵀ) · w2}, with w1, v1 and w2 each (ffn, d_model) as DBRX stores them. */
    private final class GluExpert implements ExpertFfn {
        private final DeviceWeight w1;
        private final DeviceWeight v1;
        private final DeviceWeight w2;

        GluExpert(DeviceWeight w1, DeviceWeight v1, DeviceWeight w2) {
            this.w1 = w1;
            this.v1 = v1;
            this.w2 = w2;
        }

        @Override
        public void apply(Activations in, Activations g, Activations u, Activations out, int rows) {
            backend.matmul(g, in, w1, rows);
            backend.matmul(u, in, v1, rows);
            backend.siluMul(g, u, rows);
            backend.matmulTransposed(out, g, w2, rows);
        }
    }
}
