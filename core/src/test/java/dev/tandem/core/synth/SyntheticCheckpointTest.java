package dev.tandem.core.synth;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.checkpoint.Checkpoint;
import dev.tandem.core.checkpoint.DType;
import dev.tandem.core.checkpoint.TensorView;
import dev.tandem.core.compute.cpu.CpuBackend;
import dev.tandem.core.config.Architecture;
import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.config.ModelConfigLoader;
import dev.tandem.core.engine.Generator;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.Result;
import dev.tandem.core.model.CausalLm;
import dev.tandem.core.model.Models;
import dev.tandem.core.sampling.SamplingParams;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Synthetic checkpoints in the Hugging Face layout: sharded, indexed, loadable, and reproducible from a seed. */
class SyntheticCheckpointTest {
    private static final long SEED = 7;
    private static final long MAX_SHARD_BYTES = 16_000; // well under the ~100 KB of weights: several shards
    private static final int[] PROMPT = {1, 5, 9, 13, 17};
    private static final int NEW_TOKENS = 6;
    private static final SynthSpec MIXTRAL = new SynthSpec(Architecture.MIXTRAL, 32, 2, 4, 2, 48, 4, 2, 96, 256, 1e4, Float.NaN);
    private static final SynthSpec DBRX = new SynthSpec(Architecture.DBRX, 32, 2, 4, 2, 48, 4, 2, 96, 256, 5e5, 8f);
    private static final SynthSpec DBRX_UNCLIPPED = new SynthSpec(Architecture.DBRX, 32, 2, 4, 2, 48, 4, 2, 96, 256, 5e5, Float.NaN);

    enum Spec {
        MIXTRAL_TINY(MIXTRAL), DBRX_TINY(DBRX), DBRX_TINY_WITHOUT_QKV_CLIP(DBRX_UNCLIPPED);

        final SynthSpec spec;

        Spec(SynthSpec spec) {
            this.spec = spec;
        }
    }

    @TempDir
    Path temp;

    @ParameterizedTest
    @EnumSource(Spec.class)
    void shouldReadBackTheSpecDimensionsFromConfigJson(Spec which) {
        SynthSpec s = which.spec;
        Path dir = write(s, SEED, "c", new ArrayList<>());

        ModelConfig c = ModelConfigLoader.load(dir);

        assertEquals(s.architecture(), c.architecture());
        assertEquals(s.hiddenSize(), c.hiddenSize());
        assertEquals(s.numLayers(), c.numLayers());
        assertEquals(s.numHeads(), c.numHeads());
        assertEquals(s.numKvHeads(), c.numKvHeads());
        assertEquals(s.hiddenSize() / s.numHeads(), c.headDim());
        assertEquals(s.ffnHiddenSize(), c.ffnHiddenSize());
        assertEquals(s.numExperts(), c.numExperts());
        assertEquals(s.expertsPerToken(), c.expertsPerToken());
        assertEquals(s.vocabSize(), c.vocabSize());
        assertEquals(s.maxPositions(), c.maxPositions());
        assertEquals(s.ropeTheta(), c.ropeTheta());
        assertEquals(s.clipQkv(), c.clipQkv()); // NaN equals NaN here: no clamp
    }

    @ParameterizedTest
    @EnumSource(Spec.class)
    void shouldShardAndIndexEveryTensorOfTheHuggingFaceLayout(Spec which) throws IOException {
        List<String> progress = new ArrayList<>();
        Path dir = write(which.spec, SEED, "s", progress);
        Map<String, long[]> expected = huggingFaceTensors(which.spec);
        long expectedBytes = expected.values().stream().mapToLong(shape -> 2 * Arrays.stream(shape).reduce(1, (a, b) -> a * b)).sum();

        JsonNode index = new ObjectMapper().readTree(dir.resolve(Checkpoint.INDEX_FILE).toFile());
        assertEquals(expectedBytes, index.get("metadata").get("total_size").asLong());
        Map<String, String> weightMap = new TreeMap<>();
        index.get("weight_map").properties().forEach(e -> weightMap.put(e.getKey(), e.getValue().asText()));
        assertEquals(expected.keySet(), weightMap.keySet());
        List<String> shardNames = new ArrayList<>(new TreeSet<>(weightMap.values()));
        int n = shardNames.size();
        assertTrue(n > 1, "expected several shards, got " + shardNames);
        for (int i = 0; i < n; i++) {
            assertEquals(String.format("model-%05d-of-%05d.safetensors", i + 1, n), shardNames.get(i));
        }
        assertEquals(n, progress.size(), "one progress line per shard: " + progress);

        Map<String, Long> shardDataBytes = new LinkedHashMap<>();
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            assertEquals(expected.keySet(), toSet(checkpoint.tensorNames()));
            for (Map.Entry<String, long[]> e : expected.entrySet()) {
                TensorView t = checkpoint.tensor(e.getKey());
                assertArrayEquals(e.getValue(), t.shape(), e.getKey());
                assertEquals(DType.BF16, t.dtype(), e.getKey());
                assertEquals(weightMap.get(e.getKey()), Path.of(t.file()).getFileName().toString());
                shardDataBytes.merge(t.file(), t.data().byteSize(), Long::sum);
            }
        }
        shardDataBytes.forEach((file, bytes) -> assertTrue(bytes <= MAX_SHARD_BYTES, file + " holds " + bytes + " bytes"));
    }

    /** The documented distribution: norms exactly 1, linear weights uniform on ±√(3/fan_in), so std 1/√fan_in. */
    @ParameterizedTest
    @EnumSource(Spec.class)
    void shouldFillNormsWithOnesAndLinearWeightsUniformlyScaledByFanIn(Spec which) {
        SynthSpec s = which.spec;
        Path dir = write(s, SEED, "w", new ArrayList<>());
        Map<String, long[]> shapes = huggingFaceTensors(s);
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            for (String name : checkpoint.tensorNames()) {
                float[] w = checkpoint.tensor(name).toFloatArray();
                if (shapes.get(name).length == 1) { // the norms
                    for (float v : w) {
                        assertEquals(1f, v, name);
                    }
                    continue;
                }
                boolean embedding = name.equals("model.embed_tokens.weight") || name.equals("transformer.wte.weight");
                // nn.Linear's (out, in), except DBRX's w2, stored (experts · ffn, d_model) but applied as (in, out)
                long fanIn = name.endsWith("ffn.experts.mlp.w2") ? s.ffnHiddenSize() : shapes.get(name)[1];
                double bound = embedding ? 1.0 : Math.sqrt(3.0 / fanIn);
                double sumSquares = 0;
                for (float v : w) {
                    assertTrue(Math.abs(v) <= bound * (1 + 0x1p-8), name + ": " + v + " beyond ±" + bound); // bf16 rounding
                    sumSquares += (double) v * v;
                }
                double std = Math.sqrt(sumSquares / w.length);
                if (w.length >= 2000) {
                    assertEquals(bound / Math.sqrt(3), std, 0.1 * bound / Math.sqrt(3), name + " standard deviation");
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Spec.class)
    void shouldLoadAndGenerateTheSameTokensEachTime(Spec which) {
        Path dir = write(which.spec, SEED, "g", new ArrayList<>());

        Result first = generate(dir, 64);
        Result again = generate(dir, 2); // prompt in chunks of two tokens

        assertEquals(NEW_TOKENS, first.outputIds().length);
        for (int id : first.outputIds()) {
            assertTrue(id >= 0 && id < which.spec.vocabSize(), "token " + id);
        }
        float[] logits = first.promptLogits();
        assertEquals(PROMPT.length * which.spec.vocabSize(), logits.length);
        for (float v : logits) {
            assertTrue(Float.isFinite(v), "non-finite logit " + v);
        }
        int vocab = which.spec.vocabSize();
        for (int pos = 0; pos < PROMPT.length; pos++) {
            float[] row = Arrays.copyOfRange(logits, pos * vocab, (pos + 1) * vocab);
            Arrays.sort(row);
            assertTrue(row[vocab - 1] - row[0] > 0.1f, "position " + pos + ": logits nearly constant");
        }
        assertArrayEquals(first.outputIds(), again.outputIds());
        for (int i = 0; i < logits.length; i++) {
            assertEquals(logits[i], again.promptLogits()[i], 1e-4f * Math.max(1f, Math.abs(logits[i])));
        }
    }

    @Test
    void shouldWriteIdenticalBytesForTheSameSeedAndDifferentWeightsForAnother() throws IOException {
        Path a = write(MIXTRAL, SEED, "a", new ArrayList<>());
        Path b = write(MIXTRAL, SEED, "b", new ArrayList<>());
        Path c = write(MIXTRAL, SEED + 1, "c", new ArrayList<>());
        List<String> files = fileNames(a);
        assertEquals(files, fileNames(b));
        assertEquals(files, fileNames(c));
        assertTrue(files.size() > 3, files.toString());

        for (String f : files) {
            assertEquals(-1, Files.mismatch(a.resolve(f), b.resolve(f)), f + " differs for the same seed");
            if (f.startsWith("model-")) {
                assertNotEquals(-1, Files.mismatch(a.resolve(f), c.resolve(f)), f + " unchanged by another seed");
            } else {
                assertEquals(-1, Files.mismatch(a.resolve(f), c.resolve(f)), f + " depends on the seed");
            }
        }
    }

    @Test
    void shouldWriteOneModelSafetensorsWithoutIndexWhenEverythingFitsInOneShard() {
        Path dir = temp.resolve("one");
        SyntheticCheckpoint.write(MIXTRAL, dir, SEED, Long.MAX_VALUE, line -> { });

        assertEquals(List.of("config.json", "model.safetensors"), fileNames(dir));
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            assertEquals(huggingFaceTensors(MIXTRAL).keySet(), toSet(checkpoint.tensorNames()));
        }
        assertEquals(NEW_TOKENS, generate(dir, 64).outputIds().length);
    }

    /** Every tensor Hugging Face's MixtralForCausalLM or DbrxForCausalLM stores, with its shape. */
    private static Map<String, long[]> huggingFaceTensors(SynthSpec s) {
        Map<String, long[]> t = new TreeMap<>();
        long d = s.hiddenSize();
        long headDim = s.hiddenSize() / s.numHeads();
        long q = s.numHeads() * headDim;
        long kv = s.numKvHeads() * headDim;
        long f = s.ffnHiddenSize();
        if (s.architecture() == Architecture.MIXTRAL) {
            t.put("model.embed_tokens.weight", new long[] {s.vocabSize(), d});
            for (int l = 0; l < s.numLayers(); l++) {
                String p = "model.layers." + l + ".";
                t.put(p + "input_layernorm.weight", new long[] {d});
                t.put(p + "post_attention_layernorm.weight", new long[] {d});
                t.put(p + "self_attn.q_proj.weight", new long[] {q, d});
                t.put(p + "self_attn.k_proj.weight", new long[] {kv, d});
                t.put(p + "self_attn.v_proj.weight", new long[] {kv, d});
                t.put(p + "self_attn.o_proj.weight", new long[] {d, q});
                t.put(p + "block_sparse_moe.gate.weight", new long[] {s.numExperts(), d});
                for (int e = 0; e < s.numExperts(); e++) {
                    String x = p + "block_sparse_moe.experts." + e + ".";
                    t.put(x + "w1.weight", new long[] {f, d});
                    t.put(x + "w2.weight", new long[] {d, f});
                    t.put(x + "w3.weight", new long[] {f, d});
                }
            }
            t.put("model.norm.weight", new long[] {d});
        } else {
            t.put("transformer.wte.weight", new long[] {s.vocabSize(), d});
            for (int l = 0; l < s.numLayers(); l++) {
                String p = "transformer.blocks." + l + ".";
                t.put(p + "norm_attn_norm.norm_1.weight", new long[] {d});
                t.put(p + "norm_attn_norm.norm_2.weight", new long[] {d});
                t.put(p + "norm_attn_norm.attn.Wqkv.weight", new long[] {q + 2 * kv, d});
                t.put(p + "norm_attn_norm.attn.out_proj.weight", new long[] {d, q});
                t.put(p + "ffn.router.layer.weight", new long[] {s.numExperts(), d});
                for (String w : new String[] {"w1", "v1", "w2"}) {
                    t.put(p + "ffn.experts.mlp." + w, new long[] {s.numExperts() * f, d});
                }
            }
            t.put("transformer.norm_f.weight", new long[] {d});
        }
        t.put("lm_head.weight", new long[] {s.vocabSize(), d});
        return t;
    }

    private Path write(SynthSpec spec, long seed, String name, List<String> progress) {
        Path dir = temp.resolve(name);
        SyntheticCheckpoint.write(spec, dir, seed, MAX_SHARD_BYTES, progress::add);
        return dir;
    }

    private static Result generate(Path dir, int maxBatchTokens) {
        try (CausalLm lm = Models.load(dir, new CpuBackend(2), maxBatchTokens)) {
            Generator generator = new Generator(lm, lm.newKvCache(64, 16));
            return generator.generate(List.of(new Request(PROMPT, NEW_TOKENS, SamplingParams.GREEDY, false, true))).getFirst();
        }
    }

    private static List<String> fileNames(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static TreeSet<String> toSet(Iterable<String> names) {
        TreeSet<String> set = new TreeSet<>();
        names.forEach(set::add);
        return set;
    }
}
