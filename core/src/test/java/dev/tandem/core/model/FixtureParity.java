package dev.tandem.core.model;

import dev.tandem.core.checkpoint.SafetensorsFile;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.engine.Generator;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.Result;
import dev.tandem.core.sampling.SamplingParams;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs a fixture's prompts through any backend and checks the logits at every prompt position
 * against transformers' float32 reference (and, where asked, the greedy tokens). For the CPU
 * suite and the GPU suite alike.
 */
public final class FixtureParity {
    public static final int GREEDY_TOKENS = 12;

    private FixtureParity() {
    }

    /**
     * @param together       all prompts in one batch, or one at a time
     * @param maxRelativeL2  the bound at every position
     * @param greedy         also require transformers' greedy tokens
     * @return the largest relative L2 error seen
     */
    public static double check(String model, Supplier<ComputeBackend> backend, boolean together, int maxBatchTokens,
                               int microBatches, double maxRelativeL2, boolean greedy) {
        return check(FixtureSupport.dir(model), model, backend, together, maxBatchTokens, microBatches, maxRelativeL2,
                greedy);
    }

    /** The same for the checkpoint in {@code dir}, a copy of fixture {@code model} in another form. */
    public static double check(Path dir, String model, Supplier<ComputeBackend> backend, boolean together,
                               int maxBatchTokens, int microBatches, double maxRelativeL2, boolean greedy) {
        double worst = 0;
        try (SafetensorsFile expected = FixtureSupport.expected(model);
             CausalLm lm = Models.load(dir, backend.get(), maxBatchTokens)) {
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
                    worst = Math.max(worst, Double.isNaN(error) ? Double.POSITIVE_INFINITY : error);
                    assertTrue(error < maxRelativeL2, dir.getFileName() + " p" + p + " position " + pos + ": relative L2 "
                            + error);
                }
                if (greedy) {
                    assertArrayEquals(FixtureSupport.ints(expected, "p" + p + ".greedy"), results.get(p).outputIds(),
                            dir.getFileName() + " p" + p + " greedy tokens");
                }
            }
        }
        return worst;
    }
}
