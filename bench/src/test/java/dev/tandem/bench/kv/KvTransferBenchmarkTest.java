package dev.tandem.bench.kv;

import dev.tandem.core.compute.BackendSpec;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A small KV transfer end to end on the CPU: delivered exactly (the benchmark checks), figures that add up. */
class KvTransferBenchmarkTest {
    @Test
    void shouldMoveEveryLayerAndReportBytesTimesAndRatio() throws Exception {
        List<String> log = new ArrayList<>();
        List<KvTransferBenchmark.Result> results = KvTransferBenchmark.run(BackendSpec.cpu(1), 3, 2, 8,
                new int[] {5, 300}, 2, log::add);
        assertEquals(2, results.size(), String.join("\n", log));
        KvTransferBenchmark.Result r = results.get(1);
        assertEquals(300, r.tokens());
        assertEquals("FP32", r.kvDtype(), "the CPU cache's type, carried as it is");
        assertEquals(2L * 300 * 16 * 4, r.bytesPerLayer(), "keys and values of 300 positions, 16 floats each");
        assertTrue(r.transferMsPerLayer() > 0 && r.boundMsPerLayer() > 0, r.toString());
        assertEquals(r.bytesPerLayer() / (r.transferMsPerLayer() * 1e6), r.transferGbPerSecond(), 1e-9 * r.transferGbPerSecond() + 1e-12);
        assertEquals(r.transferGbPerSecond() / r.boundGbPerSecond(), r.ratio(), 1e-12);
    }
}
