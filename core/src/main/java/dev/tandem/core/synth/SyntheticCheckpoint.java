package dev.tandem.core.synth;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.core.TandemException;
import dev.tandem.core.checkpoint.Checkpoint;
import dev.tandem.core.checkpoint.DType;
import dev.tandem.core.checkpoint.SafetensorsWriter;
import dev.tandem.core.config.Architecture;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.stream.IntStream;

/**
 * Writes a checkpoint in the real Hugging Face layout (config.json, sharded safetensors and
 * their index) with seeded random bf16 weights, so benchmarks and the demo need no download.
 * Linear weights are uniform with standard deviation 1/√fan_in, norms are 1: activations stay
 * in range through any number of layers. The same seed gives the same bytes.
 */
public final class SyntheticCheckpoint {
    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int CHUNK = 1 << 20;

    record Planned(String name, long[] shape, float scale) {
        long bytes() {
            long n = 2;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    private SyntheticCheckpoint() {
    }

    /** Writes the checkpoint into {@code dir}; {@code progress} hears one line per shard. */
    public static void write(SynthSpec spec, Path dir, long seed, long maxShardBytes, Consumer<String> progress) {
        List<Planned> tensors = plan(spec);
        List<List<Planned>> shards = new ArrayList<>();
        List<Planned> current = new ArrayList<>();
        long currentBytes = 0;
        for (Planned t : tensors) {
            if (!current.isEmpty() && currentBytes + t.bytes() > maxShardBytes) {
                shards.add(current);
                current = new ArrayList<>();
                currentBytes = 0;
            }
            current.add(t);
            currentBytes += t.bytes();
        }
        shards.add(current);
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("config.json"), config(spec));
            ObjectMapper json = new ObjectMapper();
            ObjectNode index = json.createObjectNode();
            long total = tensors.stream().mapToLong(Planned::bytes).sum();
            index.putObject("metadata").put("total_size", total);
            ObjectNode weightMap = index.putObject("weight_map");
            for (int s = 0; s < shards.size(); s++) {
                String file = shards.size() == 1 ? "model.safetensors"
                        : String.format("model-%05d-of-%05d.safetensors", s + 1, shards.size());
                long bytes = shards.get(s).stream().mapToLong(Planned::bytes).sum();
                progress.accept(String.format("writing %s (%.2f GB, %d tensors)", file, bytes / 1e9, shards.get(s).size()));
                List<SafetensorsWriter.Entry> entries = new ArrayList<>();
                for (Planned t : shards.get(s)) {
                    entries.add(new SafetensorsWriter.Entry(t.name(), DType.BF16, t.shape(), fill(t, seed)));
                    weightMap.put(t.name(), file);
                }
                SafetensorsWriter.write(dir.resolve(file), entries, Map.of("format", "pt"));
            }
            if (shards.size() > 1) {
                Files.writeString(dir.resolve(Checkpoint.INDEX_FILE), json.writerWithDefaultPrettyPrinter().writeValueAsString(index));
            }
        } catch (IOException e) {
            throw new TandemException(dir + ": cannot write checkpoint: " + e.getMessage(), e);
        }
    }

    private static SafetensorsWriter.Filler fill(Planned t, long seed) {
        return bytes -> {
            long elements = bytes.byteSize() / 2;
            long tensorSeed = seed * 0x9E3779B97F4A7C15L ^ t.name().hashCode();
            int chunks = (int) ((elements + CHUNK - 1) / CHUNK);
            IntStream.range(0, chunks).parallel().forEach(c -> fillChunk(bytes, t.scale(), tensorSeed + c,
                    (long) c * CHUNK, Math.min(elements, (long) (c + 1) * CHUNK)));
        };
    }

    /**
     * Fills bf16 elements {@code [from, to)} of {@code bytes}: uniform on ±{@code scale}, or ones
     * when {@code scale} is 0 (a norm gain).
     */
    public static void fillChunk(MemorySegment bytes, float scale, long seed, long from, long to) {
        if (scale == 0f) { // a norm gain: all ones
            for (long i = from; i < to; i++) {
                bytes.setAtIndex(BF16, i, (short) (Float.floatToRawIntBits(1f) >>> 16));
            }
            return;
        }
        SplittableRandom random = new SplittableRandom(seed);
        for (long i = from; i < to; i++) {
            float value = (float) ((random.nextDouble() * 2 - 1) * scale);
            bytes.setAtIndex(BF16, i, dev.tandem.core.compute.Bf16.fromFloat(value));
        }
    }

    /** Uniform on ±scale has standard deviation scale/√3, so scale = √3/√fan_in. */
    private static Planned linear(String name, long rows, long cols) {
        return new Planned(name, new long[] {rows, cols}, (float) Math.sqrt(3.0 / cols));
    }

    private static Planned norm(String name, long size) {
        return new Planned(name, new long[] {size}, 0f);
    }

    static List<Planned> plan(SynthSpec s) {
        List<Planned> t = new ArrayList<>();
        int d = s.hiddenSize();
        int q = s.numHeads() * s.headDim();
        int kv = s.numKvHeads() * s.headDim();
        if (s.architecture() == Architecture.MIXTRAL) {
            t.add(new Planned("model.embed_tokens.weight", new long[] {s.vocabSize(), d}, 1f));
            for (int l = 0; l < s.numLayers(); l++) {
                String p = "model.layers." + l + ".";
                t.add(norm(p + "input_layernorm.weight", d));
                t.add(linear(p + "self_attn.q_proj.weight", q, d));
                t.add(linear(p + "self_attn.k_proj.weight", kv, d));
                t.add(linear(p + "self_attn.v_proj.weight", kv, d));
                t.add(linear(p + "self_attn.o_proj.weight", d, q));
                t.add(norm(p + "post_attention_layernorm.weight", d));
                t.add(linear(p + "block_sparse_moe.gate.weight", s.numExperts(), d));
                for (int e = 0; e < s.numExperts(); e++) {
                    String x = p + "block_sparse_moe.experts." + e + ".";
                    t.add(linear(x + "w1.weight", s.ffnHiddenSize(), d));
                    t.add(linear(x + "w2.weight", d, s.ffnHiddenSize()));
                    t.add(linear(x + "w3.weight", s.ffnHiddenSize(), d));
                }
            }
            t.add(norm("model.norm.weight", d));
        } else {
            t.add(new Planned("transformer.wte.weight", new long[] {s.vocabSize(), d}, 1f));
            long fused = (long) s.numExperts() * s.ffnHiddenSize();
            for (int l = 0; l < s.numLayers(); l++) {
                String p = "transformer.blocks." + l + ".";
                t.add(norm(p + "norm_attn_norm.norm_1.weight", d));
                t.add(linear(p + "norm_attn_norm.attn.Wqkv.weight", q + 2L * kv, d));
                t.add(linear(p + "norm_attn_norm.attn.out_proj.weight", d, q));
                t.add(norm(p + "norm_attn_norm.norm_2.weight", d));
                t.add(linear(p + "ffn.router.layer.weight", s.numExperts(), d));
                t.add(linear(p + "ffn.experts.mlp.w1", fused, d));
                t.add(linear(p + "ffn.experts.mlp.v1", fused, d));
                t.add(new Planned(p + "ffn.experts.mlp.w2", new long[] {fused, d}, (float) Math.sqrt(3.0 / s.ffnHiddenSize())));
            }
            t.add(norm("transformer.norm_f.weight", d));
        }
        t.add(linear("lm_head.weight", s.vocabSize(), d));
        return t;
    }

    static String config(SynthSpec s) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode c = json.createObjectNode();
        if (s.architecture() == Architecture.MIXTRAL) {
            c.putArray("architectures").add("MixtralForCausalLM");
            c.put("model_type", "mixtral");
            c.put("hidden_size", s.hiddenSize());
            c.put("intermediate_size", s.ffnHiddenSize());
            c.put("num_hidden_layers", s.numLayers());
            c.put("num_attention_heads", s.numHeads());
            c.put("num_key_value_heads", s.numKvHeads());
            c.put("num_local_experts", s.numExperts());
            c.put("num_experts_per_tok", s.expertsPerToken());
            c.put("vocab_size", s.vocabSize());
            c.put("max_position_embeddings", s.maxPositions());
            c.put("rms_norm_eps", 1e-5);
            c.put("rope_theta", s.ropeTheta());
            c.put("hidden_act", "silu");
            c.putNull("sliding_window");
            c.put("tie_word_embeddings", false);
            c.put("bos_token_id", 1);
            c.put("eos_token_id", 2);
        } else {
            c.putArray("architectures").add("DbrxForCausalLM");
            c.put("model_type", "dbrx");
            c.put("d_model", s.hiddenSize());
            c.put("n_heads", s.numHeads());
            c.put("n_layers", s.numLayers());
            c.put("max_seq_len", s.maxPositions());
            c.put("vocab_size", s.vocabSize());
            ObjectNode attn = c.putObject("attn_config");
            if (Float.isNaN(s.clipQkv())) {
                attn.putNull("clip_qkv"); // no clamp, as Hugging Face writes it; Jackson would write NaN as a string
            } else {
                attn.put("clip_qkv", s.clipQkv());
            }
            attn.put("kv_n_heads", s.numKvHeads());
            attn.put("rope_theta", s.ropeTheta());
            ObjectNode ffn = c.putObject("ffn_config");
            ffn.putObject("ffn_act_fn").put("name", "silu");
            ffn.put("ffn_hidden_size", s.ffnHiddenSize());
            ffn.put("moe_num_experts", s.numExperts());
            ffn.put("moe_top_k", s.expertsPerToken());
            ffn.put("moe_normalize_expert_weights", 1.0);
            c.put("tie_word_embeddings", false);
            c.put("eos_token_id", 100257);
        }
        c.put("torch_dtype", "bfloat16");
        return json.writerWithDefaultPrettyPrinter().writeValueAsString(c);
    }
}
