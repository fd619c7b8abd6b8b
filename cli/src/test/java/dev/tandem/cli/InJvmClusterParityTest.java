package dev.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The disaggregated path end to end in one JVM: expert nodes and attention nodes on threads over
 * one shared Aeron IPC media driver give transformers' greedy tokens and prompt logits for the
 * fixtures' three prompts, spread over the attention nodes, for every number of attention nodes
 * A, expert nodes E and micro-batches m; afterwards every node has ended and the driver's
 * directory is gone.
 */
class InJvmClusterParityTest {
    private static final long RESULT_TIMEOUT_S = 60;
    private static final long THREAD_GRACE_S = 2;

    @TempDir
    Path temp;

    /** A ∈ {1,2,3} × E ∈ {1,2,4} (8 too for DBRX's 16 experts) × m ∈ {1..4}. */
    static Stream<Arguments> clusters() {
        List<Arguments> cases = new ArrayList<>();
        for (String model : List.of("mixtral-tiny", "dbrx-tiny")) {
            List<Integer> expertNodes = model.equals("dbrx-tiny") ? List.of(1, 2, 4, 8) : List.of(1, 2, 4);
            for (int a = 1; a <= 3; a++) {
                for (int e : expertNodes) {
                    for (int m = 1; m <= 4; m++) {
                        cases.add(Arguments.of(model, a, e, m));
                    }
                }
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} A={1} E={2} m={3}")
    @MethodSource("clusters")
    void shouldMatchTransformersAcrossAttentionAndExpertNodes(String model, int attentionNodes, int expertNodes,
                                                             int microBatches) throws Exception {
        List<FixtureExpectations.Prompt> prompts = FixtureExpectations.load(model);
        Set<Thread> before = Thread.getAllStackTraces().keySet();
        ObjectMapper json = new ObjectMapper();
        String driverDir;
        List<InJvmCluster.Ending> endings;
        List<String> live;
        try (InJvmCluster cluster = new InJvmCluster(CliFixtures.fixture(model), attentionNodes, expertNodes,
                microBatches)) {
            driverDir = cluster.aeronDirectory();
            List<JsonNode> results = FixtureExpectations.submitAll(json, prompts, temp, attentionNodes, cluster::submit,
                    RESULT_TIMEOUT_S);
            for (int p = 0; p < prompts.size(); p++) {
                FixtureExpectations.check(model + " p" + p + " on attention node " + p % attentionNodes, prompts.get(p),
                        results.get(p), FixtureExpectations.logitsFile(temp, p));
            }
            cluster.close();
            endings = cluster.endings();
            live = cluster.liveThreads();
        }
        assertEquals(List.of(), live, "node threads still alive");
        assertEquals(attentionNodes + expertNodes, endings.size());
        for (InJvmCluster.Ending e : endings) {
            assertNull(e.failure(), e.node() + " failed: " + e.failure());
            if (e.node().startsWith("expert")) {
                assertTrue(e.reason().startsWith("sender "), e.node() + " ended for: " + e.reason());
            }
        }
        assertFalse(Files.exists(Path.of(driverDir)), "driver directory left: " + driverDir);
        assertEquals(List.of(), threadsStartedSince(before), "threads left by the nodes, their Aeron clients or the driver");
    }

    /**
     * bf16 on the wire (the nodes compute in float32 and round what they send): every prompt
     * completes, and its logits stay within 1.5× transformers' own bf16 error, the GPU backend's
     * bf16 bound (measured on the H200: 4.8e-3 for mixtral-tiny, 1.2e-2 for dbrx-tiny).
     */
    @ParameterizedTest(name = "{0} A={1} E={2} m={3}")
    @CsvSource({"mixtral-tiny, 1, 2, 2, 4.8e-3", "mixtral-tiny, 2, 1, 3, 4.8e-3", "dbrx-tiny, 2, 4, 2, 1.2e-2"})
    void shouldStayWithinBf16ToleranceWithBf16OnTheWire(String model, int attentionNodes, int expertNodes,
                                                       int microBatches, double transformersBf16Error) throws Exception {
        List<FixtureExpectations.Prompt> prompts = FixtureExpectations.load(model);
        ObjectMapper json = new ObjectMapper();
        double worst;
        try (InJvmCluster cluster = new InJvmCluster(CliFixtures.fixture(model), attentionNodes, expertNodes,
                microBatches, "bf16")) {
            List<JsonNode> results = FixtureExpectations.submitAll(json, prompts, temp, attentionNodes, cluster::submit,
                    RESULT_TIMEOUT_S);
            worst = FixtureExpectations.checkAllWithin(model + " over a bf16 wire", prompts, results, temp,
                    1.5 * transformersBf16Error);
        }
        System.err.printf("%s A=%d E=%d m=%d, bf16 wire: worst relative L2 %.3g%n", model, attentionNodes, expertNodes,
                microBatches, worst);
        assertTrue(worst > 0, "a bf16 wire that changed nothing did not round");
    }

    /** Threads started since {@code before} that are still alive after a short grace for their last wake-up. */
    private static List<String> threadsStartedSince(Set<Thread> before) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(THREAD_GRACE_S);
        List<String> left;
        do {
            left = Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> !before.contains(t) && t.isAlive())
                    .map(Thread::getName)
                    .toList();
            if (!left.isEmpty()) {
                Thread.sleep(20);
            }
        } while (!left.isEmpty() && System.nanoTime() < deadline);
        return left;
    }
}
