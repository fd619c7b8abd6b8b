package dev.tandem.scheduling;

import org.junit.jupiter.api.Test;

import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class MicroBatchRuleTest {
    @Test
    void shouldTakeTheLeastMThatHidesTheTransferUpToFour() {
        assertEquals(2, MicroBatchRule.forTimes(500, 600, 0), "no transfer: 2(1 + 0) = 2");
        assertEquals(3, MicroBatchRule.forTimes(500, 600, 300), "2(1 + 300/600) = 3");
        assertEquals(4, MicroBatchRule.forTimes(500, 600, 301), "just past 3: rounded up");
        assertEquals(4, MicroBatchRule.forTimes(100, 100, 10_000), "capped at 4");
        assertThrows(IllegalArgumentException.class, () -> MicroBatchRule.forTimes(0, 0, 1));
    }

    @Test
    void shouldLeaveCpuNodesToATimingAndDecideForGpus() {
        assertEquals(0, MicroBatchRule.forDevices(Set.of("cpu")));
        assertEquals(1, MicroBatchRule.forDevices(Set.of("cuda:0")));
        assertEquals(2, MicroBatchRule.forDevices(Set.of("cuda:0", "cuda:1")));
        assertEquals(2, MicroBatchRule.forDevices(Set.of("cpu", "cuda:0")));
    }
}
