package dev.tandem.cuda;

import dev.tandem.core.compute.BackendSpec;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.model.FixtureParity;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.function.Supplier;

/**
 * The fixtures on a CUDA device. float32: transformers' float32 logits to 1e-4 and its greedy
 * tokens, one prompt at a time, batched, chunked and micro-batched. bfloat16: no farther from
 * the float32 reference than 1.5× transformers' own bf16 run of the same checkpoint (measured
 * on the H200: 4.8e-3 for mixtral-tiny, 1.2e-2 for dbrx-tiny).
 */
@Tag("gpu")
@ExtendWith(RequiresCuda.class)
class CudaFixtureParityTest {
    private static final double FLOAT32_BOUND = 1e-4;

    private static Supplier<ComputeBackend> cuda(String dtype) {
        return () -> new BackendSpec("cuda:0", dtype, 0).open(line -> System.err.println("tandem: " + line));
    }

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldMatchTransformersInFloat32OneRequestAtATime(String model) {
        report(model, "float32 one at a time", FixtureParity.check(model, cuda("float32"), false, 64, 1, FLOAT32_BOUND, true));
    }

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldMatchTransformersInFloat32WithAllPromptsInOneBatch(String model) {
        report(model, "float32 batched", FixtureParity.check(model, cuda("float32"), true, 64, 1, FLOAT32_BOUND, true));
    }

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldMatchTransformersInFloat32WithChunkedPrefill(String model) {
        report(model, "float32 chunked", FixtureParity.check(model, cuda("float32"), true, 7, 1, FLOAT32_BOUND, true));
    }

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldMatchTransformersInFloat32WithMicroBatches(String model) {
        report(model, "float32 micro-batched", FixtureParity.check(model, cuda("float32"), true, 9, 3, FLOAT32_BOUND, true));
    }

    @ParameterizedTest
    @CsvSource({"mixtral-tiny, 4.8e-3", "dbrx-tiny, 1.2e-2"})
    void shouldStayWithinTransformersOwnBf16ErrorInBfloat16(String model, double transformersBf16Error) {
        report(model, "bfloat16 batched", FixtureParity.check(model, cuda("bfloat16"), true, 64, 1,
                1.5 * transformersBf16Error, false));
        report(model, "bfloat16 chunked", FixtureParity.check(model, cuda("bfloat16"), true, 7, 1,
                1.5 * transformersBf16Error, false));
    }

    private static void report(String model, String mode, double worst) {
        System.err.printf("%s %s: worst relative L2 %.3g%n", model, mode, worst);
    }
}
