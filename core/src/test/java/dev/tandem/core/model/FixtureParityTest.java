package dev.tandem.core.model;

import dev.tandem.core.compute.cpu.CpuBackend;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Logits and greedy tokens against Hugging Face transformers (float32) on the tiny fixtures. */
class FixtureParityTest {
    private static final double MAX_RELATIVE_L2 = 1e-4;

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldMatchTransformersOneRequestAtATime(String model) {
        check(model, false, 64, 1);
    }

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldMatchTransformersWithAllPromptsInOneBatch(String model) {
        check(model, true, 64, 1);
    }

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldMatchTransformersWhenPromptsArriveInSmallChunks(String model) {
        check(model, true, 7, 1);
    }

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldMatchTransformersWithTheStepCutIntoMicroBatches(String model) {
        check(model, true, 9, 3);
    }

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldMatchTransformersWithTheDenseMoe(String model) {
        // every step up to 64 tokens runs every expert over every token, weighted by gates routed in place
        FixtureParity.check(model, () -> new CpuBackend(2, 64), true, 64, 1, MAX_RELATIVE_L2, true);
        FixtureParity.check(model, () -> new CpuBackend(2, 64), false, 7, 1, MAX_RELATIVE_L2, true);
    }

    private static void check(String model, boolean together, int maxBatchTokens, int microBatches) {
        FixtureParity.check(model, () -> new CpuBackend(2), together, maxBatchTokens, microBatches, MAX_RELATIVE_L2, true);
    }
}
