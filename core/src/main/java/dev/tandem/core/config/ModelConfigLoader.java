package dev.tandem.core.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.TandemException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Reads {@code config.json} in the forms Hugging Face writes: Mixtral's flat fields with
 * {@code rope_theta} at the top or inside {@code rope_parameters}, and DBRX's nested
 * {@code attn_config} and {@code ffn_config}. Every error names the file and the field.
 */
public final class ModelConfigLoader {
    /** DBRX's LayerNorm epsilon: PyTorch's default, not stored in the config. */
    private static final float DBRX_LAYER_NORM_EPS = 1e-5f;

    private final Path file;
    private final JsonNode root;

    private ModelConfigLoader(Path file, JsonNode root) {
        this.file = file;
        this.root = root;
    }

    public static ModelConfig load(Path checkpointDir) {
        Path file = checkpointDir.resolve("config.json");
        if (!Files.exists(file)) {
            throw new TandemException(checkpointDir + ": no config.json (is this a Hugging Face checkpoint directory?)");
        }
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new TandemException(file + ": not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new TandemException(file + ": not a JSON object");
        }
        return new ModelConfigLoader(file, root).parse();
    }

    /** A config.json given as text; {@code name} stands for the file in error messages. */
    public static ModelConfig parse(String json, String name) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(json);
        } catch (IOException e) {
            throw new TandemException(name + ": not valid JSON: " + e.getMessage(), e);
        }
        return new ModelConfigLoader(Path.of(name), root).parse();
    }

    private ModelConfig parse() {
        return switch (architecture()) {
            case MIXTRAL -> mixtral();
            case DBRX -> dbrx();
        };
    }

    private Architecture architecture() {
        String modelType = root.path("model_type").asText("");
        JsonNode classes = root.path("architectures");
        for (Architecture a : Architecture.values()) {
            if (a.modelType.equals(modelType)) {
                return a;
            }
            for (JsonNode c : classes) {
                if (a.hfClass.equals(c.asText())) {
                    return a;
                }
            }
        }
        throw new TandemException(file + ": unknown architecture (model_type '" + modelType + "', architectures "
                + classes + "); Tandem runs mixtral (MixtralForCausalLM) and dbrx (DbrxForCausalLM)");
    }

    private ModelConfig mixtral() {
        int hidden = positiveInt(root, "hidden_size");
        int heads = positiveInt(root, "num_attention_heads");
        int kvHeads = root.hasNonNull("num_key_value_heads") ? positiveInt(root, "num_key_value_heads") : heads;
        int headDim = root.hasNonNull("head_dim") ? positiveInt(root, "head_dim") : hidden / heads;
        checkHeads("num_attention_heads", heads, kvHeads, headDim);
        int experts = positiveInt(root, "num_local_experts");
        int topK = positiveInt(root, "num_experts_per_tok");
        checkTopK("num_experts_per_tok", topK, experts);
        return new ModelConfig(Architecture.MIXTRAL, hidden, positiveInt(root, "num_hidden_layers"), heads, kvHeads,
                headDim, positiveInt(root, "vocab_size"), positiveInt(root, "max_position_embeddings"),
                positiveInt(root, "intermediate_size"), experts, topK,
                (float) positiveNumber(root, "rms_norm_eps", 1e-5), ropeTheta(root, 1e6), 1f, Float.NaN,
                root.hasNonNull("sliding_window") ? positiveInt(root, "sliding_window") : 0,
                root.path("tie_word_embeddings").asBoolean(false), root.path("bos_token_id").asInt(-1),
                eosIds());
    }

    private ModelConfig dbrx() {
        JsonNode attn = object("attn_config");
        JsonNode ffn = object("ffn_config");
        int dModel = positiveInt(root, "d_model");
        int heads = positiveInt(root, "n_heads");
        int kvHeads = attn.hasNonNull("kv_n_heads") ? positiveInt(attn, "kv_n_heads")
                : root.hasNonNull("num_key_value_heads") ? positiveInt(root, "num_key_value_heads") : heads;
        int headDim = dModel / heads;
        checkHeads("n_heads", heads, kvHeads, headDim);
        if (headDim * heads != dModel) {
            throw new TandemException(file + ": d_model " + dModel + " is not a multiple of n_heads " + heads);
        }
        String act = ffn.path("ffn_act_fn").path("name").asText("silu");
        if (!act.equals("silu")) {
            throw new TandemException(file + ": ffn_config.ffn_act_fn.name '" + act + "' is not supported (only silu)");
        }
        int experts = positiveInt(ffn, "moe_num_experts");
        int topK = positiveInt(ffn, "moe_top_k");
        checkTopK("ffn_config.moe_top_k", topK, experts);
        JsonNode pNorm = ffn.get("moe_normalize_expert_weights");
        float clip = attn.hasNonNull("clip_qkv") ? (float) positiveNumber(attn, "clip_qkv", 0) : Float.NaN;
        double theta = attn.hasNonNull("rope_theta") ? positiveNumber(attn, "rope_theta", 0) : ropeTheta(root, 1e4);
        return new ModelConfig(Architecture.DBRX, dModel, positiveInt(root, "n_layers"), heads, kvHeads, headDim,
                positiveInt(root, "vocab_size"), positiveInt(root, "max_seq_len"), positiveInt(ffn, "ffn_hidden_size"),
                experts, topK, DBRX_LAYER_NORM_EPS, theta,
                pNorm == null || pNorm.isNull() ? 0f : (float) pNorm.asDouble(), clip, 0,
                root.path("tie_word_embeddings").asBoolean(false), root.path("bos_token_id").asInt(-1), eosIds());
    }

    /** {@code rope_theta} at the top, or in {@code rope_parameters} (flat or per attention type). */
    private double ropeTheta(JsonNode node, double fallback) {
        if (node.hasNonNull("rope_theta")) {
            return positiveNumber(node, "rope_theta", 0);
        }
        JsonNode params = node.get("rope_parameters");
        if (params == null || params.isNull()) {
            params = node.get("rope_scaling");
        }
        if (params == null || params.isNull()) {
            return fallback;
        }
        if (!params.has("rope_theta")) {
            for (JsonNode perType : params) {
                if (perType.isObject() && perType.has("rope_theta")) {
                    params = perType;
                    break;
                }
            }
        }
        String type = params.path("rope_type").asText(params.path("type").asText("default"));
        if (!type.equals("default")) {
            throw new TandemException(file + ": rope_parameters.rope_type '" + type + "' is not supported (only default)");
        }
        return params.hasNonNull("rope_theta") ? positiveNumber(params, "rope_theta", 0) : fallback;
    }

    private int[] eosIds() {
        JsonNode eos = root.get("eos_token_id");
        if (eos == null || eos.isNull()) {
            return new int[0];
        }
        if (eos.isArray()) {
            int[] ids = new int[eos.size()];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = eos.get(i).asInt();
            }
            return ids;
        }
        return new int[] {eos.asInt()};
    }

    private JsonNode object(String field) {
        JsonNode node = root.get(field);
        if (node == null || !node.isObject()) {
            throw new TandemException(file + ": missing object field '" + field + "'");
        }
        return node;
    }

    private int positiveInt(JsonNode node, String field) {
        JsonNode value = node.get(field);
        if (value == null || value.isNull()) {
            throw new TandemException(file + ": missing field '" + field + "'");
        }
        if (!value.canConvertToInt() || !value.isIntegralNumber() || value.asInt() <= 0) {
            throw new TandemException(file + ": field '" + field + "' must be a positive integer, got " + value);
        }
        return value.asInt();
    }

    private double positiveNumber(JsonNode node, String field, double fallback) {
        JsonNode value = node.get(field);
        if (value == null || value.isNull()) {
            return fallback;
        }
        if (!value.isNumber() || value.asDouble() <= 0) {
            throw new TandemException(file + ": field '" + field + "' must be a positive number, got " + value);
        }
        return value.asDouble();
    }

    private void checkHeads(String field, int heads, int kvHeads, int headDim) {
        if (heads % kvHeads != 0) {
            throw new TandemException(file + ": " + field + " " + heads + " is not a multiple of the "
                    + kvHeads + " key/value heads");
        }
        if (headDim % 2 != 0) {
            throw new TandemException(file + ": head dimension " + headDim + " must be even for RoPE");
        }
    }

    private void checkTopK(String field, int topK, int experts) {
        if (topK > experts) {
            throw new TandemException(file + ": " + field + " " + topK + " exceeds the " + experts + " experts");
        }
    }
}
