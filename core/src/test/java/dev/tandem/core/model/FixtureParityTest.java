package dev.tandem.core.model;

import dev.tandem.core.checkpoint.SafetensorsFile;
import dev.tandem.core.compute.cpu.CpuBackend;
import dev.tandem.core.engine.Generator;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.Result;
import dev.tandem.core.sampling.SamplingParams;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Logits and greedy tokens against Hugging Face transformers (float32) on the tiny fixtures. */
class FixtureParityTest {
    private static final double MAX_RELATIVE_L2 = 1e-4;
    private static final int GREEDY_TOKENS = 12;

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldMatchTransformersOneRequestAtATime(String model) {
        check(model, false, 64);
    }

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldMatchTransformersWithAllPromptsInOneBatch(String model) {
        check(model, true, 64);
    }

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldMatchTransformersWhenPromptsArriveInSmallChunks(String model) {
        check(model, true, 7);
    }

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldMatchTransformersWithTheStepCutIntoMicroBatches(String model) {
        check(model, true, 9, 3);
    }

    private static void check(String model, boolean together, int maxBatchTokens) {
        check(model, together, maxBatchTokens, 1);
    }

    private static void check(String model, boolean together, int maxBatchTokens, int microBatches) {
        try (SafetensorsFile expected = FixtureSupport.expected(model);
             CausalLm lm = Models.load(FixtureSupport.dir(model), new CpuBackend(2), maxBatchTokens)) {
            int vocab = lm.config().vocabSize();
            List<Request> requests = new ArrayList<>();
            for (int p = 0; p < FixtureSupport.PROMPTS; p++) {
                requests.add(new Request(FixtureSupport.ints(expected, "p" + p + ".input_ids"), GREEDY_TOKENS,
                        SamplingParams.GREEDY, false, true));
            }
            List<Result> results = new ArrayList<>();
            Generator generator = new Generator(lm, lm.newKvCache(256, 4), microBatches);
            if (together) {
                results.addAll(generator.generate(requests));
            } else {
                for (Request r : requests) {
                    results.addAll(generator.generate(List.of(r)));
                }
            }
            for (int p = 0; p < FixtureSupport.PROMPTS; p++) {
                float[] reference = expected.tensor("p" + p + ".logits").toFloatArray();
                float[] actual = results.get(p).promptLogits();
                assertEquals(reference.length, actual.length);
                for (int pos = 0; pos < reference.length / vocab; pos++) {
                    double error = FixtureSupport.relativeL2(actual, pos * vocab, reference, pos * vocab, vocab);
                    assertTrue(error < MAX_RELATIVE_L2, model + " p" + p + " position " + pos + ": relative L2 " + error);
                }
                assertArrayEquals(FixtureSupport.ints(expected, "p" + p + ".greedy"), results.get(p).outputIds(),
                        model + " p" + p + " greedy tokens");
            }
        }
    }
}
