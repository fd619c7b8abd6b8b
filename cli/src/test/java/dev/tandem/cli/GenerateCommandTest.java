package dev.tandem.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import static dev.tandem.cli.CliFixtures.tandem;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code tandem generate} in-process: transformers' greedy tokens and logits on the fixtures, and
 * bad input reported as one {@code tandem: error:} line that names the file and tensor or field.
 */
class GenerateCommandTest {
    private static final double MAX_RELATIVE_L2 = 1e-4;
    private static final int VOCAB = 512;
    private static final int GREEDY_TOKENS = 12;
    private static final String MIXTRAL = "mixtral-tiny";
    private static final String LAYER0_Q = "model.layers.0.self_attn.q_proj.weight";
    private static final String LAYER1_W1 = "model.layers.1.block_sparse_moe.experts.0.w1.weight";
    private static final String PROMPT = "1,17,42,99,3";

    @TempDir
    Path temp;

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldPrintFixtureGreedyTokensAsOneJsonLineAndWritePromptLogits(String model) {
        Map<String, CliFixtures.Tensor> expected = CliFixtures.readSafetensors(CliFixtures.fixture(model).resolve("expected.safetensors"));
        int[] prompt = expected.get("p0.input_ids").ints();
        int[] greedy = expected.get("p0.greedy").ints();
        assertEquals(GREEDY_TOKENS, greedy.length);
        Path logitsFile = temp.resolve("logits.safetensors");

        CliFixtures.Run run = tandem("generate", "--model", CliFixtures.fixture(model).toString(), "--input-ids", csv(prompt),
                "--max-tokens", String.valueOf(GREEDY_TOKENS), "--temperature", "0", "--ignore-eos",
                "--logits-out", logitsFile.toString());

        assertEquals(0, run.exitCode(), run.err());
        assertEquals("{\"input_ids\":[" + csv(prompt) + "],\"output_ids\":[" + csv(greedy) + "]}" + System.lineSeparator(),
                run.out());
        Map<String, CliFixtures.Tensor> written = CliFixtures.readSafetensors(logitsFile);
        assertEquals(Set.of("logits"), written.keySet());
        CliFixtures.Tensor logits = written.get("logits");
        assertEquals("F32", logits.dtype());
        assertArrayEquals(new long[] {prompt.length, VOCAB}, logits.shape());
        float[] actual = logits.floats();
        float[] reference = expected.get("p0.logits").floats();
        assertEquals(reference.length, actual.length);
        for (int pos = 0; pos < prompt.length; pos++) {
            double error = relativeL2(actual, reference, pos * VOCAB, VOCAB);
            assertTrue(error < MAX_RELATIVE_L2, model + " position " + pos + ": relative L2 " + error);
        }
    }

    @Test
    void shouldReportTruncatedShardNamingFileAndTensor() {
        Path dir = CliFixtures.copyFixture(MIXTRAL, temp.resolve("m"));
        Path shard = CliFixtures.shardOf(dir, LAYER1_W1);
        CliFixtures.truncate(shard, shard.toFile().length() - 1000);

        String error = failingGenerate(dir, PROMPT);

        assertTrue(error.startsWith("tandem: error: " + shard + ": tensor '"), error);
        assertTrue(error.contains("truncated"), error);
    }

    @Test
    void shouldReportHeaderLengthPastTheEndNamingTheFile() {
        Path dir = CliFixtures.copyFixture(MIXTRAL, temp.resolve("m"));
        Path shard = CliFixtures.shardOf(dir, LAYER0_Q);
        CliFixtures.setHeaderLength(shard, 1L << 40);

        String error = failingGenerate(dir, PROMPT);

        assertTrue(error.startsWith("tandem: error: " + shard + ": header length " + (1L << 40)), error);
    }

    @Test
    void shouldReportTensorMissingFromItsShardNamingFileAndTensor() {
        Path dir = CliFixtures.copyFixture(MIXTRAL, temp.resolve("m"));
        Path shard = CliFixtures.shardOf(dir, LAYER1_W1);
        CliFixtures.rewriteHeader(shard, h -> h.remove(LAYER1_W1));

        String error = failingGenerate(dir, PROMPT);

        assertEquals("tandem: error: " + shard + ": tensor '" + LAYER1_W1 + "' is listed in " + CliFixtures.INDEX
                + " but missing from the file", error);
    }

    @Test
    void shouldReportShapeThatDisagreesWithConfigNamingFileAndTensor() {
        Path dir = CliFixtures.copyFixture(MIXTRAL, temp.resolve("m"));
        CliFixtures.editJson(dir.resolve("config.json"), c -> c.put("intermediate_size", 256));
        String tensor = "model.layers.0.block_sparse_moe.experts.0.w1.weight";

        String error = failingGenerate(dir, PROMPT);

        assertEquals("tandem: error: " + CliFixtures.shardOf(dir, tensor) + ": tensor '" + tensor
                + "' has shape [128, 64] but config.json implies [256, 64]", error);
    }

    @Test
    void shouldReportUnknownDtypeNamingFileAndTensor() {
        Path dir = CliFixtures.copyFixture(MIXTRAL, temp.resolve("m"));
        Path shard = CliFixtures.shardOf(dir, LAYER0_Q);
        CliFixtures.rewriteHeader(shard, h -> h.withObject(LAYER0_Q).put("dtype", "F8_E4M3"));

        String error = failingGenerate(dir, PROMPT);

        assertEquals("tandem: error: " + shard + ": tensor '" + LAYER0_Q + "': unknown dtype 'F8_E4M3'", error);
    }

    @Test
    void shouldReportUnknownArchitectureNamingConfigAndModelType() {
        Path dir = CliFixtures.copyFixture(MIXTRAL, temp.resolve("m"));
        CliFixtures.editJson(dir.resolve("config.json"), c -> c.put("model_type", "llama"));

        String error = failingGenerate(dir, PROMPT);

        assertTrue(error.startsWith("tandem: error: " + dir.resolve("config.json") + ": unknown architecture (model_type 'llama'"),
                error);
    }

    @Test
    void shouldReportInputIdOutsideTheVocabularyNamingIdAndIndex() {
        String error = failingGenerate(CliFixtures.fixture(MIXTRAL), "1,2," + VOCAB);

        assertTrue(error.startsWith("tandem: error: "), error);
        assertTrue(error.contains("input id 512 at index 2 is outside the vocabulary [0, 512)"), error);
    }

    @Test
    void shouldReportPromptLongerThanTheContextNamingBothLengths() {
        Path dir = CliFixtures.copyFixture(MIXTRAL, temp.resolve("m"));
        CliFixtures.editJson(dir.resolve("config.json"), c -> c.put("max_position_embeddings", 4));

        String error = failingGenerate(dir, PROMPT);

        assertTrue(error.startsWith("tandem: error: "), error);
        assertTrue(error.contains("the prompt has 5 tokens, longer than the model's context of 4"), error);
    }

    @Test
    void shouldReportMissingModelDirectoryNamingIt() {
        Path missing = temp.resolve("no-such-model");

        String error = failingGenerate(missing, PROMPT);

        assertEquals("tandem: error: " + missing + ": no config.json (is this a Hugging Face checkpoint directory?)", error);
    }

    /** Runs generate, expects failure, and returns stderr's single line after checking it has no stack trace. */
    private static String failingGenerate(Path model, String inputIds) {
        CliFixtures.Run run = tandem("generate", "--model", model.toString(), "--input-ids", inputIds,
                "--max-tokens", "2", "--threads", "1");
        assertNotEquals(0, run.exitCode());
        assertEquals("", run.out());
        assertTrue(run.err().startsWith("tandem: error: "), run.err());
        assertFalse(run.err().contains("\tat "), "stack trace printed:\n" + run.err());
        assertEquals(1, run.err().lines().count(), "more than one line:\n" + run.err());
        return run.err().strip();
    }

    private static String csv(int[] values) {
        return Arrays.stream(values).mapToObj(String::valueOf).collect(Collectors.joining(","));
    }

    private static double relativeL2(float[] a, float[] b, int offset, int n) {
        double diff = 0, norm = 0;
        for (int i = offset; i < offset + n; i++) {
            diff += (double) (a[i] - b[i]) * (a[i] - b[i]);
            norm += (double) b[i] * b[i];
        }
        return Math.sqrt(diff / norm);
    }
}
