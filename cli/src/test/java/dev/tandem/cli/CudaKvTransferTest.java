package dev.tandem.cli;

import dev.tandem.bench.kv.KvTransferBenchmark;
import dev.tandem.core.compute.BackendSpec;
import dev.tandem.cuda.RequiresCuda;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code tandem bench kv --device cuda}'s path, small: every layer out of one device cache into
 * frames, over Aeron IPC, into another device cache, which the benchmark then checks against the
 * first bit for bit (it throws otherwise). 300 positions are one staged, fragmented message of 256
 * (into the page-locked staging frame) and one of 44, in bf16 (the GPU default) claimed in the log
 * (pageable memory), in float32 staged too; the frames carry the cache's own dtype.
 */
@Tag("gpu")
@ExtendWith(RequiresCuda.class)
class CudaKvTransferTest {
    @ParameterizedTest(name = "{0}")
    @CsvSource({"bfloat16, BF16, 2", "float32, FP32, 4"})
    void shouldMoveEveryLayerFromOneDeviceCacheIntoAnotherBitForBit(String dtype, String wire, int elementBytes)
            throws Exception {
        int layers = 3;
        int kvHeads = 2;
        int headDim = 16;
        List<KvTransferBenchmark.Result> results = KvTransferBenchmark.run(new BackendSpec("cuda", dtype, 0), layers,
                kvHeads, headDim, new int[] {300}, 1, System.err::println);
        assertEquals(wire, results.get(0).kvDtype());
        assertEquals(2L * 300 * kvHeads * headDim * elementBytes, results.get(0).bytesPerLayer());
    }
}
