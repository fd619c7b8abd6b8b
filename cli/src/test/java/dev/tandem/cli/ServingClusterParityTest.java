package dev.tandem.cli;

import dev.tandem.core.engine.TokenCollector;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.Result;
import dev.tandem.core.sampling.SamplingParams;
import dev.tandem.scheduling.Route;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link ServingCluster}: prompt machines prefill and stream each layer's KV to token machines
 * (attention nodes of AFD groups), every node its own OS process. Greedy tokens, heard one by one
 * and in the result, equal transformers' for every fixture prompt, several rounds of them in
 * flight at once; nothing is left behind.
 */
class ServingClusterParityTest {
    private static final long RESULT_TIMEOUT_S = 180;
    private static final int ROUNDS = 3;

    @ParameterizedTest(name = "{0} P={1} G={2} A={3} E={4} m={5}")
    @CsvSource({"mixtral-tiny, 1, 1, 2, 2, 2", "dbrx-tiny, 2, 2, 1, 2, 1"})
    void shouldGenerateTransformersGreedyTokensWithPrefillAndDecodeOnSeparateProcesses(
            String model, int promptNodes, int tokenGroups, int attentionNodes, int expertNodes, int microBatches)
            throws Exception {
        Map<Route.Kind, Long> routed = runEveryPrompt(model, new ServingCluster.Options(CliFixtures.fixture(model), model,
                promptNodes, tokenGroups, attentionNodes, expertNodes, microBatches, 1, 64, 1024, 1 << 20, 64));
        assertEquals(Map.of(Route.Kind.SPLIT, (long) ROUNDS * FixtureExpectations.load(model).size()), routed,
                "every request split");
    }

    @Test
    void shouldLendMachinesToTheMixedPoolUnderPressureAndStayExact() throws Exception {
        // 64 KV positions hold three fixture requests; no pending prompt tokens tolerated before lending
        Map<Route.Kind, Long> routed = runEveryPrompt("mixtral-tiny", new ServingCluster.Options(
                CliFixtures.fixture("mixtral-tiny"), "mixtral-tiny", 1, 1, 1, 1, 1, 1, 64, 64, 0, 64));
        assertEquals((long) ROUNDS * FixtureExpectations.load("mixtral-tiny").size(),
                routed.values().stream().mapToLong(Long::longValue).sum(), "requests routed");
        assertTrue(routed.containsKey(Route.Kind.ON_TOKEN) || routed.containsKey(Route.Kind.ON_PROMPT),
                "some request ran on a machine lent to the mixed pool: " + routed);
    }

    /** Runs every fixture prompt {@link #ROUNDS} times at once and checks each; how they were routed. */
    private static Map<Route.Kind, Long> runEveryPrompt(String model, ServingCluster.Options options) throws Exception {
        List<FixtureExpectations.Prompt> prompts = FixtureExpectations.load(model);
        List<ProcessHandle> started;
        Path workDir;
        Path aeronDirectory;
        Map<Route.Kind, Long> routed;
        try (ServingCluster cluster = new ServingCluster(options)) {
            started = ClusterProcesses.nodes();
            assertEquals(options.promptNodes() + options.tokenGroups() * (options.attentionNodes() + options.expertNodes()),
                    started.size(), "node processes");
            workDir = cluster.workDir();
            aeronDirectory = Path.of(cluster.aeronDirectory());
            List<TokenCollector> heard = new ArrayList<>();
            for (int round = 0; round < ROUNDS; round++) {
                for (FixtureExpectations.Prompt p : prompts) {
                    TokenCollector h = new TokenCollector();
                    cluster.engine().submit(new Request(p.inputIds(), p.greedy().length, SamplingParams.GREEDY, false,
                            false), h);
                    heard.add(h);
                }
            }
            for (int i = 0; i < heard.size(); i++) {
                FixtureExpectations.Prompt p = prompts.get(i % prompts.size());
                Result r = heard.get(i).result().get(RESULT_TIMEOUT_S, TimeUnit.SECONDS);
                String what = model + " p" + i % prompts.size() + " round " + i / prompts.size();
                assertArrayEquals(p.greedy(), r.outputIds(), what + ": output ids");
                assertEquals(Arrays.stream(p.greedy()).boxed().toList(), heard.get(i).tokens(), what + ": streamed tokens");
                assertEquals("length", r.finishReason(), what);
            }
            routed = cluster.engine().routed();
            assertEquals(0, cluster.engine().queueDepths().get("prefill") + cluster.engine().queueDepths().get("decode"));
        }
        ClusterProcesses.assertNothingLeft(started, workDir, aeronDirectory);
        return routed;
    }
}
