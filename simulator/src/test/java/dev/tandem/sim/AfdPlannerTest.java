package dev.tandem.sim;

import dev.tandem.core.TandemException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The deployment plan against hand computations: two layers, four experts, top-1; Ta = 100 + ba µs,
 * Te = 50 + be µs, Tc = 10 µs; 100 GB a GPU, 10 GB of attention weights, 10 GB an expert, 1 MB of KV
 * a token, 100-token contexts (900 sequences on an attention node).
 */
class AfdPlannerTest {
    private static final AfdProfile P = new AfdProfile("hand", "by hand", 2, 4, 1, 100, 1, 50, 1, 10, 0, 100, 10, 10,
            1_000_000, 0);

    @TempDir
    Path temp;

    @Test
    void shouldTimeAStepAsThePingPongFormulaSays() {
        double[] parts = new double[3];
        // one micro-batch: each layer is a round trip, Ta + Te + 2Tc = 200 + 150 + 20
        assertEquals(0.74, AfdPlanner.tbtMs(P, 1, 1, 1, 100, parts), 1e-12);
        assertEquals(200, parts[0], 1e-12);
        assertEquals(150, parts[1], 1e-12);
        // two: the attention side is busy 2 · 150 a layer, more than a round trip of 150 + 100 + 20
        assertEquals(0.6, AfdPlanner.tbtMs(P, 1, 1, 2, 100, null), 1e-12);
        // two attention nodes and two expert nodes: ba = 25, be = 25 · 2 / 2
        assertEquals(2 * Math.max(2 * 125, 125 + 75 + 20) / 1e3, AfdPlanner.tbtMs(P, 2, 2, 2, 100, null), 1e-12);
        assertEquals(900, AfdPlanner.memoryBatch(P, 1, 1, 100));
    }

    @Test
    void shouldFindTheLargestBatchMeetingTheSloAndRankTheShapes() {
        // m = 2 at a 1 ms SLO: each layer takes max(2 · (100 + B/2), 170 + B) = 200 + B ≤ 500, so B = 300
        AfdPlanner.Design d = AfdPlanner.largestBatch(P, 1, 1, 2, 900, 1.0);
        assertEquals(300, d.batch());
        assertEquals(300_000, d.tokensPerSecond(), 1e-6);
        assertNull(AfdPlanner.largestBatch(P, 1, 1, 1, 900, 0.3), "not one sequence meets 0.3 ms");
        // m = 1: 170 + 2B ≤ 500 (165); m = 3: 300 + B ≤ 500 (200); m = 4: 400 + B ≤ 500 (100)
        List<AfdPlanner.Design> plan = AfdPlanner.plan(P, 2, 1.0, 100);
        assertEquals(List.of(300, 200, 165, 100), plan.stream().map(AfdPlanner.Design::batch).toList());
        assertEquals(2, plan.getFirst().microBatches());
        assertTrue(AfdPlanner.markdown(plan, 0, 10).contains("| 1 | 1 | 1 | 2 | 300 |"), AfdPlanner.markdown(plan, 0, 10));
    }

    @Test
    void shouldCompareWithColocatedGpusThatHoldTheWholeModel() {
        // a decode step of 0.5 + 0.001 ms a sequence; 100 − 10 − 4 · 10 GB of KV: 500 sequences of 100 tokens
        MachineProfile whole = new MachineProfile("whole", "", 0, 1, 0.5, 0.001, 0, 0, 0, 8192, 0, 0, 0, 0);
        assertEquals(500 * 1e3 / 1.0, AfdPlanner.colocatedPerGpu(whole, P, 1.0, 100), 1e-6);
        assertTrue(AfdPlanner.markdown(AfdPlanner.plan(P, 2, 1.0, 100), 500_000, 1).contains("| 0.30× |"));
    }

    @Test
    void shouldNameTheFieldOfABadProfile() throws IOException {
        Path file = temp.resolve("afd.properties");
        Files.writeString(file, "name = x\nlayers = 32\nexperts = 8\ntop_k = 9\nkv_bytes_per_token = 1\ngpu_memory_gb = 80\n"
                + "attention.per_token_us = 1\nexpert.per_token_us = 1\n");
        TandemException e = assertThrows(TandemException.class, () -> AfdProfile.load(file));
        assertTrue(e.getMessage().startsWith(file + ":4: 'top_k'"), e.getMessage());
    }
}
