package dev.tandem.core.model;

import dev.tandem.core.compute.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The start-up line a serving process logs about its KV cache: tokens, blocks, bytes and the batch at full context. */
class KvPlanLogTest {
    @Test
    void shouldLogTheCacheInTokensAndBlocksAndTheLargestBatchAtFullContext() {
        List<String> lines = new ArrayList<>();
        try (CausalLm lm = Models.load(FixtureSupport.dir("mixtral-tiny"), new CpuBackend(1), 16)) {
            // mixtral-tiny: 2 layers, 2 KV heads of 16 → keys and values 2·2·2·16·4 = 512 bytes a token; 4096 positions
            int tokens = lm.plannedKvTokens(0.9, 10_000, 16_384, lines::add);
            assertEquals(10_000, tokens, "the requested size");
        }
        assertEquals(List.of("KV cache: 10000 tokens in 625 blocks of 16 (0.00 GiB, 512 bytes a token); the largest"
                + " batch at full context (4096 positions) is 2"), lines);
    }
}
