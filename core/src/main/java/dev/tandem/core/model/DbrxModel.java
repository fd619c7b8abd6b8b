package dev.tandem.core.model;

import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceWeight;
import dev.tandem.core.compute.KvStorage;
import dev.tandem.core.compute.TokenBatch;
import dev.tandem.core.config.ModelConfig;

import java.util.function.IntPredicate;

/**
 * DBRX (Databricks, 2024): pre-norm decoder layers of bias-free LayerNorm, a fused Wqkv
 * projection clipped to ±clip_qkv, grouped-query attention with RoPE, and a fine-grained MoE of
 * 16 GLU experts with top-4 routing whose weights are divided by their p-norm.
 * The instance is the attention side; {@link #experts} loads the expert side.
 */
public final class DbrxModel extends DecoderModel {
    private final DeviceWeight[] norm1;   // (layer) (d_model)
    private final DeviceWeight[] wqkv;    // (layer) (heads·headDim + 2·kvHeads·headDim, d_model)
    private final DeviceWeight[] outProj; // (layer) (d_model, heads·headDim)
    private final DeviceWeight[] norm2;   // (layer) (d_model)
    private final DeviceWeight[] router;  // (layer) (experts, d_model)
    private final DeviceWeight finalNorm; // (d_model)

    public DbrxModel(ModelConfig c, ComputeBackend backend, WeightSource weights, int maxBatchTokens) {
        super(c, backend, weights, maxBatchTokens, "transformer.wte.weight", "lm_head.weight");
        int layers = c.numLayers();
        int d = c.hiddenSize();
        norm1 = new DeviceWeight[layers];
        wqkv = new DeviceWeight[layers];
        outProj = new DeviceWeight[layers];
        norm2 = new DeviceWeight[layers];
        router = new DeviceWeight[layers];
        for (int l = 0; l < layers; l++) {
            String p = "transformer.blocks." + l + ".";
            norm1[l] = weight(p + "norm_attn_norm.norm_1.weight", d);
            wqkv[l] = weight(p + "norm_attn_norm.attn.Wqkv.weight", c.qDim() + 2L * c.kvDim(), d);
            outProj[l] = weight(p + "norm_attn_norm.attn.out_proj.weight", d, c.qDim());
            norm2[l] = weight(p + "norm_attn_norm.norm_2.weight", d);
            router[l] = weight(p + "ffn.router.layer.weight", c.numExperts(), d);
        }
        finalNorm = weight("transformer.norm_f.weight", d);
    }

    @Override
    protected void attentionBlock(int l, DecoderState s, TokenBatch batch, KvStorage kv) {
        int rows = batch.size();
        backend.layerNorm(s.normed, s.x, norm1[l], config.normEps(), rows);   // h = LayerNorm(x)
        backend.matmul(s.qkv, s.normed, wqkv[l], rows);                        // [q k v] = h·Wqkvᵀ
        if (!Float.isNaN(config.clipQkv())) {
            backend.clamp(s.qkv, config.clipQkv(), rows);                      // clipped to ±clip_qkv
        }
        attend(l, s, batch, kv);                                               // a = softmax(QKᵀ/√d)·V
        backend.matmul(s.projected, s.attended, outProj[l], rows);             // x = x + a·Woᵀ
        backend.add(s.x, s.projected, rows);
        backend.layerNorm(s.normed, s.x, norm2[l], config.normEps(), rows);   // h = LayerNorm(x), to the MoE:
    }                                                                          // x = x + Σ_top4 g_i·E_i(h)

    @Override
    protected DeviceWeight gate(int layer) {
        return router[layer];
    }

    @Override
    protected void finalNorm(DecoderState s, int rows) {
        backend.layerNorm(s.normed, s.x, finalNorm, config.normEps(), rows);
    }

    /** The GLU experts {@code holds} accepts, (layer, expert); null for the others. */
    static ExpertFfn[][] experts(ModelConfig c, ComputeBackend backend, WeightSource weights, IntPredicate holds) {
        int d = c.hiddenSize();
        int ffn = c.ffnHiddenSize();
        long fused = (long) c.numExperts() * ffn;
        ExpertFfn[][] experts = new ExpertFfn[c.numLayers()][c.numExperts()];
        for (int l = 0; l < c.numLayers(); l++) {
            String p = "transformer.blocks." + l + ".ffn.experts.mlp.";
            DeviceWeight w1 = weights.load(backend, p + "w1", fused, d);
            DeviceWeight v1 = weights.load(backend, p + "v1", fused, d);
            DeviceWeight w2 = weights.load(backend, p + "w2", fused, d);
            for (int e = 0; e < c.numExperts(); e++) {
                if (holds.test(e)) {
                    // (silu(x w1ᵀ) · x v1ᵀ) w2; slices of the fused tensors, kept apart (stacking would copy them)
                    experts[l][e] = new ExpertFfn(w1.rowSlice(e * ffn, ffn), v1.rowSlice(e * ffn, ffn),
                            w2.rowSlice(e * ffn, ffn), true, null);
                }
            }
        }
        return experts;
    }
}
