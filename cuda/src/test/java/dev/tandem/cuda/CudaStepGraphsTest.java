package dev.tandem.cuda;

import dev.tandem.core.checkpoint.SafetensorsFile;
import dev.tandem.core.compute.BackendSpec;
import dev.tandem.core.engine.Generator;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.Result;
import dev.tandem.core.model.CausalLm;
import dev.tandem.core.model.FixtureSupport;
import dev.tandem.core.model.Models;
import dev.tandem.core.sampling.SamplingParams;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Decode steps replayed as CUDA graphs (bf16: float32 decode routes on the host, so it has
 * none) compute what the same steps launched one kernel at a time compute: the very same sampled
 * tokens, with new draws, positions and block tables every step and tables that outgrow their
 * capacity (so the graphs are updated) on the way, and the same greedy tokens where the logits
 * themselves come back after the graph. The fixture tests check these paths against transformers.
 */
@Tag("gpu")
@ExtendWith(RequiresCuda.class)
class CudaStepGraphsTest {
    private static CudaBackend open(String dtype) {
        return (CudaBackend) new BackendSpec("cuda:0", dtype, 0).open(line -> System.err.println("tandem: " + line));
    }

    // DBRX routes 4 of 16 experts: under 4 rows its MoE routes on the host, and such a step has no graph
    @ParameterizedTest
    @CsvSource({"mixtral-tiny, 1", "dbrx-tiny, 2"})
    void shouldPickTheSameGreedyTokensFromLogitsCopiedBackAfterTheGraph(String model, int copies) throws Exception {
        CudaBackend backend = open("bfloat16");
        try (SafetensorsFile expected = FixtureSupport.expected(model);
             CausalLm lm = Models.load(FixtureSupport.dir(model), backend, 64)) {
            // prompt logits kept: every step copies its logits back instead of sampling in the model
            List<Request> requests = requests(expected, copies, 24, p -> SamplingParams.GREEDY, true);
            backend.useGraphs(false);
            List<Result> live = generate(lm, requests);
            backend.useGraphs(true);
            List<Result> replayed = generate(lm, requests);
            System.err.println(model + " bfloat16, logits back: " + backend.graphStats());
            for (int p = 0; p < requests.size(); p++) {
                assertArrayEquals(live.get(p).outputIds(), replayed.get(p).outputIds(),
                        model + " p" + p + " greedy tokens, graphs against live launches");
            }
            assertTrue(backend.graphReplays() > 10, "too few replays: " + backend.graphStats());
        }
    }

    // six rows: mixtral-tiny's experts run side by side in batched GEMMs (more pairs than experts)
    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldSampleTheSameTokensWithAndWithoutGraphsInBfloat16(String model) throws Exception {
        CudaBackend backend = open("bfloat16");
        try (SafetensorsFile expected = FixtureSupport.expected(model);
             CausalLm lm = Models.load(FixtureSupport.dir(model), backend, 64)) {
            List<Request> requests = requests(expected, 2, 48, p -> new SamplingParams(0.9f, 0.95f, 7L + p), false);
            backend.useGraphs(false);
            List<Result> live = generate(lm, requests);
            backend.useGraphs(true);
            List<Result> replayed = generate(lm, requests);
            System.err.println(model + " bfloat16: " + backend.graphStats());
            for (int p = 0; p < requests.size(); p++) {
                assertArrayEquals(live.get(p).outputIds(), replayed.get(p).outputIds(),
                        model + " p" + p + " sampled tokens, graphs against live launches");
            }
            assertTrue(backend.graphReplays() > 20, "too few replays: " + backend.graphStats());
            assertTrue(backend.graphCaptures() >= 2, "the growing tables never updated a graph: " + backend.graphStats());
        }
    }

    /** The fixture's prompts, {@code copies} times over; request i samples with {@code sampling.apply(i)}. */
    private static List<Request> requests(SafetensorsFile expected, int copies, int tokens,
                                          IntFunction<SamplingParams> sampling, boolean promptLogits) {
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < copies * FixtureSupport.PROMPTS; i++) {
            int p = i % FixtureSupport.PROMPTS;
            requests.add(new Request(FixtureSupport.ints(expected, "p" + p + ".input_ids"), tokens, sampling.apply(i),
                    false, promptLogits));
        }
        return requests;
    }

    /** All prompts in one batch; blocks of 4 tokens, so tables cross 4, 8 and 16 blocks as they grow. */
    private static List<Result> generate(CausalLm lm, List<Request> requests) {
        return new Generator(lm, lm.newKvCache(512, 4)).generate(requests);
    }
}
