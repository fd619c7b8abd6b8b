package dev.tandem.core.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.TandemException;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.cpu.CpuBackend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import static dev.tandem.core.model.CheckpointEdits.INDEX;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A damaged checkpoint or a config.json that disagrees with it fails to load with a
 * {@link TandemException} that names the file and the tensor or field at fault.
 */
class LoadErrorTest {
    private static final String MIXTRAL = "mixtral-tiny";
    private static final String DBRX = "dbrx-tiny";
    private static final String LAYER1_W1 = "model.layers.1.block_sparse_moe.experts.0.w1.weight";
    private static final String LAYER0_Q = "model.layers.0.self_attn.q_proj.weight";
    private static final String EMBED = "model.embed_tokens.weight";

    @TempDir
    Path temp;

    @Test
    void shouldRejectTruncatedSafetensorsNamingTheFileAndACutTensor() {
        Path dir = CheckpointEdits.copyFixture(MIXTRAL, temp.resolve("m"));
        Path shard = CheckpointEdits.shardOf(dir, LAYER1_W1);
        long size = shard.toFile().length();
        long dataBytesLeft = size - 1000 - 8 - CheckpointEdits.headerLength(shard);
        List<String> cut = CheckpointEdits.tensorsEndingPast(shard, dataBytesLeft);
        assertFalse(cut.isEmpty());
        CheckpointEdits.truncate(shard, size - 1000);

        String message = loadFailure(dir);

        assertTrue(message.startsWith(shard.toString() + ": "), message);
        assertTrue(cut.stream().anyMatch(name -> message.contains("'" + name + "'")), message + " names none of " + cut);
        assertTrue(message.contains("truncated"), message);
    }

    @Test
    void shouldRejectSafetensorsCutInsideItsHeaderNamingTheFile() {
        Path dir = CheckpointEdits.copyFixture(MIXTRAL, temp.resolve("m"));
        Path shard = CheckpointEdits.shardOf(dir, EMBED);
        CheckpointEdits.truncate(shard, 8 + CheckpointEdits.headerLength(shard) / 2);

        String message = loadFailure(dir);

        assertTrue(message.startsWith(shard + ": header length " + CheckpointEdits.headerLength(shard)), message);
    }

    @Test
    void shouldRejectSafetensorsShorterThanTheHeaderLengthFieldNamingTheFile() {
        Path dir = CheckpointEdits.copyFixture(MIXTRAL, temp.resolve("m"));
        Path shard = CheckpointEdits.shardOf(dir, EMBED);
        CheckpointEdits.truncate(shard, 5);

        String message = loadFailure(dir);

        assertTrue(message.startsWith(shard + ": file is 5 bytes"), message);
    }

    @Test
    void shouldRejectHeaderLengthPointingPastTheEndNamingTheFile() {
        Path dir = CheckpointEdits.copyFixture(MIXTRAL, temp.resolve("m"));
        Path shard = CheckpointEdits.shardOf(dir, EMBED);
        long size = shard.toFile().length();
        CheckpointEdits.setHeaderLength(shard, size);

        String message = loadFailure(dir);

        assertTrue(message.startsWith(shard + ": header length " + size + " points past the end of the file ("
                + size + " bytes)"), message);
    }

    @Test
    void shouldRejectTensorMissingFromItsShardNamingTheShardAndTensor() {
        Path dir = CheckpointEdits.copyFixture(MIXTRAL, temp.resolve("m"));
        Path shard = CheckpointEdits.shardOf(dir, LAYER1_W1);
        List<CheckpointEdits.RawTensor> kept = CheckpointEdits.readTensors(shard).stream()
                .filter(t -> !t.name().equals(LAYER1_W1)).toList();
        CheckpointEdits.writeTensors(shard, kept);

        String message = loadFailure(dir);

        assertEquals(shard + ": tensor '" + LAYER1_W1 + "' is listed in " + INDEX + " but missing from the file", message);
    }

    @Test
    void shouldRejectTensorMissingFromTheIndexNamingTheIndexAndTensor() {
        Path dir = CheckpointEdits.copyFixture(MIXTRAL, temp.resolve("m"));
        CheckpointEdits.editJson(dir.resolve(INDEX), index -> index.withObject("weight_map").remove(LAYER0_Q));

        String message = loadFailure(dir);

        assertTrue(message.startsWith(dir.resolve(INDEX) + ": "), message);
        assertTrue(message.contains("'" + LAYER0_Q + "'"), message);
    }

    @Test
    void shouldRejectConfigWithMoreLayersThanTheCheckpointNamingTheFirstMissingTensor() {
        Path dir = CheckpointEdits.copyFixture(MIXTRAL, temp.resolve("m"));
        CheckpointEdits.editJson(dir.resolve("config.json"), c -> c.put("num_hidden_layers", 3));

        String message = loadFailure(dir);

        assertTrue(message.startsWith(dir.resolve(INDEX) + ": "), message);
        assertTrue(message.contains("'model.layers.2.input_layernorm.weight'"), message);
    }

    @Test
    void shouldRejectIndexThatNamesAMissingShardNamingIndexTensorAndShard() {
        Path dir = CheckpointEdits.copyFixture(MIXTRAL, temp.resolve("m"));
        Path shard = CheckpointEdits.shardOf(dir, LAYER1_W1);
        CheckpointEdits.delete(shard);

        String message = loadFailure(dir);

        assertTrue(message.startsWith(dir.resolve(INDEX) + ": tensor '"), message);
        assertTrue(message.contains(shard.getFileName().toString()), message);
        assertTrue(message.contains("does not exist"), message);
    }

    /** Each row: fixture, config field (dotted for nested), new value, tensor it breaks, shape stored, shape implied. */
    @ParameterizedTest(name = "{0} {1}={2}")
    @CsvSource(delimiter = '|', textBlock = """
            mixtral-tiny | hidden_size                 | 32  | model.embed_tokens.weight                            | [512, 64]  | [512, 32]
            mixtral-tiny | intermediate_size           | 256 | model.layers.0.block_sparse_moe.experts.0.w1.weight | [128, 64]  | [256, 64]
            mixtral-tiny | num_key_value_heads         | 4   | model.layers.0.self_attn.k_proj.weight              | [32, 64]   | [64, 64]
            mixtral-tiny | head_dim                    | 32  | model.layers.0.self_attn.q_proj.weight              | [64, 64]   | [128, 64]
            dbrx-tiny    | ffn_config.ffn_hidden_size  | 48  | transformer.blocks.0.ffn.experts.mlp.w1             | [1536, 64] | [768, 64]
            """)
    void shouldRejectTensorShapeThatDisagreesWithConfigNamingShardAndTensor(String model, String field, int value,
                                                                          String tensor, String stored, String implied) {
        Path dir = CheckpointEdits.copyFixture(model, temp.resolve("m"));
        CheckpointEdits.editJson(dir.resolve("config.json"), c -> {
            String[] path = field.split("\\.");
            (path.length == 1 ? c : c.withObject(path[0])).put(path[path.length - 1], value);
        });

        String message = loadFailure(dir);

        assertEquals(CheckpointEdits.shardOf(dir, tensor) + ": tensor '" + tensor + "' has shape " + stored
                + " but config.json implies " + implied, message);
    }

    @Test
    void shouldRejectUnknownDtypeNamingTheFileAndTensor() {
        Path dir = CheckpointEdits.copyFixture(MIXTRAL, temp.resolve("m"));
        Path shard = CheckpointEdits.shardOf(dir, LAYER0_Q);
        CheckpointEdits.rewriteHeader(shard, h -> h.withObject(LAYER0_Q).put("dtype", "Q4_K"));

        String message = loadFailure(dir);

        assertEquals(shard + ": tensor '" + LAYER0_Q + "': unknown dtype 'Q4_K'", message);
    }

    @Test
    void shouldRejectIntegerWeightNamingTheFileAndTensor() {
        Path dir = CheckpointEdits.copyFixture(MIXTRAL, temp.resolve("m"));
        Path shard = CheckpointEdits.shardOf(dir, LAYER0_Q);
        CheckpointEdits.rewriteHeader(shard, h -> h.withObject(LAYER0_Q).put("dtype", "I16")); // same size as BF16

        String message = loadFailure(dir);

        assertEquals(shard + ": tensor '" + LAYER0_Q + "' has dtype I16; weights must be BF16, F16 or F32", message);
    }

    @Test
    void shouldRejectUnknownArchitectureNamingConfigAndModelType() {
        Path dir = CheckpointEdits.copyFixture(MIXTRAL, temp.resolve("m"));
        CheckpointEdits.editJson(dir.resolve("config.json"), c -> {
            c.put("model_type", "llama");
            c.putArray("architectures").add("LlamaForCausalLM");
        });

        String message = loadFailure(dir);

        assertTrue(message.startsWith(dir.resolve("config.json") + ": unknown architecture (model_type 'llama'"), message);
        assertTrue(message.contains("LlamaForCausalLM"), message);
    }

    /** Each row: fixture, config field (dotted for nested), new JSON value or "-" to remove it, expected message tail. */
    @ParameterizedTest(name = "{0} {1}={2}")
    @CsvSource(delimiter = '|', quoteCharacter = '`', textBlock = """
            mixtral-tiny | num_local_experts   | -                                        | missing field 'num_local_experts'
            mixtral-tiny | hidden_size         | "64"                                     | field 'hidden_size' must be a positive integer, got "64"
            mixtral-tiny | num_experts_per_tok | 9                                        | num_experts_per_tok 9 exceeds the 8 experts
            mixtral-tiny | rope_parameters     | {"rope_type":"yarn","rope_theta":1e6}    | rope_parameters.rope_type 'yarn' is not supported (only default)
            dbrx-tiny    | ffn_config          | -                                        | missing object field 'ffn_config'
            dbrx-tiny    | n_heads             | 6                                        | d_model 64 is not a multiple of n_heads 6
            """)
    void shouldRejectBadConfigFieldNamingConfigAndField(String model, String field, String json, String tail) {
        Path dir = CheckpointEdits.copyFixture(model, temp.resolve("m"));
        CheckpointEdits.editJson(dir.resolve("config.json"), c -> {
            if (json.equals("-")) {
                c.remove(field);
            } else {
                try {
                    c.set(field, new ObjectMapper().readTree(json));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        });

        String message = loadFailure(dir);

        assertEquals(dir.resolve("config.json") + ": " + tail, message);
    }

    @Test
    void shouldRejectDirectoryWithoutConfigNamingTheDirectory() {
        Path dir = temp.resolve("empty");
        assertTrue(dir.toFile().mkdir());

        String message = loadFailure(dir);

        assertTrue(message.startsWith(dir + ": no config.json"), message);
    }

    /** Models.load owns the backend it is given: closed with the model, or at once when loading fails. */
    @Test
    void shouldCloseTheBackendWhenLoadingFails() {
        Path dir = CheckpointEdits.copyFixture(MIXTRAL, temp.resolve("m"));
        Path shard = CheckpointEdits.shardOf(dir, LAYER1_W1);
        CheckpointEdits.truncate(shard, shard.toFile().length() - 1000); // fails after layer 0 is loaded
        AtomicBoolean closed = new AtomicBoolean();
        ComputeBackend backend = closeRecording(new CpuBackend(2), closed);

        assertThrows(TandemException.class, () -> Models.load(dir, backend, 16));

        assertTrue(closed.get(), "backend left open after a failed load: its kernel threads and buffers leak");
    }

    @Test
    void shouldLoadTheUndamagedCopy() {
        Path dir = CheckpointEdits.copyFixture(MIXTRAL, temp.resolve("m"));
        try (CausalLm lm = Models.load(dir, new CpuBackend(1), 16)) {
            assertEquals(512, lm.config().vocabSize());
        }
        assertTrue(Files.exists(dir.resolve(INDEX)));
    }

    private static String loadFailure(Path dir) {
        TandemException e = assertThrows(TandemException.class, () -> {
            try (CausalLm ignored = Models.load(dir, new CpuBackend(1), 16)) {
                // loading must fail
            }
        });
        return e.getMessage();
    }

    private static ComputeBackend closeRecording(ComputeBackend delegate, AtomicBoolean closed) {
        return (ComputeBackend) Proxy.newProxyInstance(ComputeBackend.class.getClassLoader(),
                new Class<?>[] {ComputeBackend.class}, (proxy, method, args) -> {
                    if (method.getName().equals("close")) {
                        closed.set(true);
                    }
                    try {
                        return method.invoke(delegate, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }
}
