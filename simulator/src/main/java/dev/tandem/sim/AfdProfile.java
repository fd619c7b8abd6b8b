package dev.tandem.sim;

import dev.tandem.core.TandemException;
import dev.tandem.core.cluster.ConfigFields;

import java.nio.file.Path;

/**
 * What MegaScale-Infer's deployment plan needs of a model on one kind of GPU: the per-layer times
 * of one micro-batch, {@code Ta = k1·ba + k2} on an attention node for {@code ba} tokens and
 * {@code Te = k3·be + k4} on an expert node for {@code be} routed tokens, the one-way transfer
 * {@code Tc = c0 + c1·ba} (µs), and the sizes that bound the batch. Read from a properties file:
 * <pre>
 * name = h200-mixtral-8x7b-afd
 * source = where the figures come from
 * layers = 32
 * experts = 8
 * top_k = 2
 * attention.intercept_us = 359        # k2
 * attention.per_token_us = 2.17       # k1
 * expert.intercept_us = 518           # k4
 * expert.per_token_us = 0.80          # k3, per token routed to the node
 * comm.intercept_us = 700             # c0: one way, per layer and micro-batch
 * comm.per_token_us = 0               # c1
 * gpu_memory_gb = 141
 * attention.weights_gb = 3.2          # what an attention node holds besides its KV cache
 * expert.weights_gb = 11.3            # one expert, every layer
 * kv_bytes_per_token = 131072
 * cost_per_hour = 0                   # a GPU
 * </pre>
 */
public record AfdProfile(String name, String source, int layers, int experts, int topK, double attentionInterceptUs,
                         double attentionPerTokenUs, double expertInterceptUs, double expertPerTokenUs,
                         double commInterceptUs, double commPerTokenUs, double gpuMemoryGb, double attentionWeightsGb,
                         double expertWeightsGb, long kvBytesPerToken, double costPerHour) {
    public double ta(double tokens) {
        return attentionInterceptUs + attentionPerTokenUs * tokens;
    }

    public double te(double routedTokens) {
        return expertInterceptUs + expertPerTokenUs * routedTokens;
    }

    public double tc(double tokens) {
        return commInterceptUs + commPerTokenUs * tokens;
    }

    public static AfdProfile load(Path file) {
        ConfigFields f = ConfigFields.read(file, "AFD profile");
        AfdProfile p = new AfdProfile(f.required("name"), f.get("source", "unnamed"), f.intIn("layers", 1, 10_000),
                f.intIn("experts", 1, 1_000_000), f.intIn("top_k", 1, 1_000_000),
                f.doubleIn("attention.intercept_us", 0, 1e9, 0), f.doubleIn("attention.per_token_us", 0, 1e9, 0),
                f.doubleIn("expert.intercept_us", 0, 1e9, 0), f.doubleIn("expert.per_token_us", 0, 1e9, 0),
                f.doubleIn("comm.intercept_us", 0, 1e9, 0), f.doubleIn("comm.per_token_us", 0, 1e9, 0),
                f.doubleIn("gpu_memory_gb", 0, 1e6, Double.NaN), f.doubleIn("attention.weights_gb", 0, 1e6, 0),
                f.doubleIn("expert.weights_gb", 0, 1e6, 0), f.intIn("kv_bytes_per_token", 1, Integer.MAX_VALUE),
                f.doubleIn("cost_per_hour", 0, 1e6, 0));
        if (!(p.gpuMemoryGb() > 0)) {
            throw new TandemException(f.at("gpu_memory_gb") + ": 'gpu_memory_gb' must be given, and above 0");
        }
        if (p.topK() > p.experts()) {
            throw new TandemException(f.at("top_k") + ": 'top_k' " + p.topK() + " exceeds 'experts' " + p.experts());
        }
        if (!(p.attentionPerTokenUs() + p.attentionInterceptUs() > 0 && p.expertPerTokenUs() + p.expertInterceptUs() > 0)) {
            throw new TandemException(f.where() + ": Ta and Te must take time (attention.* and expert.* all 0)");
        }
        return p;
    }
}
