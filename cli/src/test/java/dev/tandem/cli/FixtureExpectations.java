package dev.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.core.checkpoint.DType;
import dev.tandem.core.checkpoint.SafetensorsFile;
import dev.tandem.core.checkpoint.TensorView;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Transformers' reference outputs for a fixture's three prompts, the attention node's request
 * line that reproduces them (greedy, 12 tokens, EOS ignored, prompt logits written to a file),
 * and the check of a result line and its logits file against them.
 */
final class FixtureExpectations {
    static final int PROMPTS = 3;
    static final int GREEDY_TOKENS = 12;
    static final int VOCAB = 512;
    private static final double MAX_RELATIVE_L2 = 1e-4;

    /** @param logits (prompt tokens, vocab) */
    record Prompt(int[] inputIds, int[] greedy, float[] logits) {
    }

    private FixtureExpectations() {
    }

    static List<Prompt> load(String model) {
        try (SafetensorsFile expected = SafetensorsFile.open(CliFixtures.fixture(model).resolve("expected.safetensors"))) {
            List<Prompt> prompts = new ArrayList<>();
            for (int p = 0; p < PROMPTS; p++) {
                prompts.add(new Prompt(ints(expected.tensor("p" + p + ".input_ids")),
                        ints(expected.tensor("p" + p + ".greedy")), expected.tensor("p" + p + ".logits").toFloatArray()));
            }
            return prompts;
        }
    }

    /** The request line for {@code prompt}, without an id (the caller's cluster sets one). */
    static ObjectNode request(ObjectMapper json, Prompt prompt, Path logitsOut) {
        ObjectNode r = json.createObjectNode();
        r.set("input_ids", json.valueToTree(prompt.inputIds()));
        r.put("max_tokens", GREEDY_TOKENS);
        r.put("temperature", 0);
        r.put("ignore_eos", true);
        r.put("logits_out", logitsOut.toString());
        return r;
    }

    /**
     * Submits every prompt, prompt p to node {@code p % nodes} with its logits written to
     * {@link #logitsFile}, and waits for the results, in prompt order.
     */
    static List<JsonNode> submitAll(ObjectMapper json, List<Prompt> prompts, Path temp, int nodes,
                                    java.util.function.BiFunction<Integer, ObjectNode,
                                            java.util.concurrent.CompletableFuture<JsonNode>> submit,
                                    long timeoutSeconds) throws Exception {
        List<java.util.concurrent.CompletableFuture<JsonNode>> pending = new java.util.ArrayList<>();
        for (int p = 0; p < prompts.size(); p++) {
            pending.add(submit.apply(p % nodes, request(json, prompts.get(p), logitsFile(temp, p))));
        }
        List<JsonNode> results = new java.util.ArrayList<>();
        for (var f : pending) {
            results.add(f.get(timeoutSeconds, java.util.concurrent.TimeUnit.SECONDS));
        }
        return results;
    }

    /** Where prompt p's logits go. */
    /** {@link #checkWithin} for every prompt's result, {@code what} naming the run; the worst error. */
    static double checkAllWithin(String what, List<Prompt> prompts, List<JsonNode> results, Path temp, double bound) {
        double worst = 0;
        for (int p = 0; p < prompts.size(); p++) {
            worst = Math.max(worst, checkWithin(what + " p" + p, prompts.get(p), results.get(p), logitsFile(temp, p),
                    bound));
        }
        return worst;
    }

    static Path logitsFile(Path temp, int prompt) {
        return temp.resolve("p" + prompt + ".safetensors");
    }

    /** The result line has transformers' greedy tokens; the logits file is within 1e-4 relative L2 at every position. */
    static void check(String what, Prompt prompt, JsonNode result, Path logitsFile) {
        int[] outputIds = outputIds(what, prompt, result);
        assertArrayEquals(prompt.greedy(), outputIds, what + ": greedy tokens " + Arrays.toString(outputIds));
        checkLogits(what, prompt, logitsFile, MAX_RELATIVE_L2);
    }

    /**
     * A whole result whose logits file is within {@code bound} relative L2 at every position (a
     * rounded path: its greedy tokens may part from transformers' at a near tie); the worst error.
     */
    static double checkWithin(String what, Prompt prompt, JsonNode result, Path logitsFile, double bound) {
        assertEquals(prompt.greedy().length, outputIds(what, prompt, result).length, what + ": tokens");
        return checkLogits(what, prompt, logitsFile, bound);
    }

    private static int[] outputIds(String what, Prompt prompt, JsonNode result) {
        assertFalse(result.has("error"), what + ": " + result);
        assertEquals("length", result.path("finish_reason").asText(), what + ": " + result);
        int[] outputIds = new int[result.path("output_ids").size()];
        for (int i = 0; i < outputIds.length; i++) {
            outputIds[i] = result.get("output_ids").get(i).asInt();
        }
        return outputIds;
    }

    private static double checkLogits(String what, Prompt prompt, Path logitsFile, double bound) {
        double worst = 0;
        try (SafetensorsFile written = SafetensorsFile.open(logitsFile)) {
            TensorView logits = written.tensor("logits");
            assertEquals(DType.F32, logits.dtype(), what);
            assertArrayEquals(new long[] {prompt.inputIds().length, VOCAB}, logits.shape(), what + ": logits shape");
            float[] actual = logits.toFloatArray();
            for (int pos = 0; pos < prompt.inputIds().length; pos++) {
                double error = relativeL2(actual, prompt.logits(), pos * VOCAB, VOCAB);
                assertTrue(error < bound, what + " position " + pos + ": relative L2 " + error);
                worst = Math.max(worst, error);
            }
        }
        return worst;
    }

    private static int[] ints(TensorView t) {
        return Arrays.stream(t.toLongArray()).mapToInt(Math::toIntExact).toArray();
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
