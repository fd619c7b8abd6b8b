package dev.tandem.cli;

import org.junit.jupiter.api.Test;

import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** m from the nodes' devices: one GPU 1, several 2, the CPU timed by MegaScale-Infer's rule (1..4). */
class MicroBatchPlannerTest {
    @Test
    void shouldPickOneForASharedGpuTwoForSeveralAndTimeTheCpu() {
        var model = CliFixtures.fixture("mixtral-tiny");
        assertEquals(1, MicroBatchPlanner.choose(model, 1, 2, Set.of("cuda:0")), "one GPU: the roles take turns");
        assertEquals(2, MicroBatchPlanner.choose(model, 1, 2, Set.of("cuda:0", "cuda:1")));
        assertEquals(2, MicroBatchPlanner.choose(model, 1, 2, Set.of("cpu", "cuda:0")), "mixed devices: untimed");
        int timed = MicroBatchPlanner.choose(model, 1, 2, Set.of("cpu"));
        assertTrue(timed >= 2 && timed <= 4, "m ≥ 2(1 + Tc/Tf) is at least 2, capped at 4: " + timed);
    }

    @Test
    void shouldResolveEachNodesDeviceFromThePlacement() {
        ClusterOptions options = new ClusterOptions();
        new picocli.CommandLine(options).parseArgs("--model", CliFixtures.fixture("mixtral-tiny").toString(),
                "--expert-nodes", "2", "--devices", "cpu", "--expert-devices", "cpu,cpu");
        int m = options.microBatches();
        assertTrue(m >= 2 && m <= 4, "every node on the CPU: timed, got " + m);
    }
}
