package dev.tandem.cuda;

import dev.tandem.core.checkpoint.DType;
import dev.tandem.core.checkpoint.TensorView;
import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceWeight;
import dev.tandem.core.compute.KvStorage;
import dev.tandem.core.compute.Router;
import dev.tandem.core.compute.TokenBatch;
import dev.tandem.core.compute.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every {@link ComputeBackend} operation on the CUDA backend (float32) against the CPU backend,
 * the exact oracle, on fresh random inputs; outputs are poisoned with NaN first, so an element
 * the device never wrote fails.
 */
@Tag("gpu")
@ExtendWith(RequiresCuda.class)
class CudaOpsTest {
    private static final double BOUND = 1e-5;
    private static final Arena ARENA = Arena.ofShared();
    private static CpuBackend cpu;
    private static CudaBackend gpu;
    private final Random random = new Random(System.nanoTime());

    @BeforeAll
    static void open() {
        cpu = new CpuBackend(2);
        gpu = new CudaBackend(CudaDevice.open(0), false, System.err::println);
    }

    @AfterAll
    static void close() {
        if (gpu != null) {
            gpu.close();
        }
        cpu.close();
    }

    /** The same tensor on both backends. */
    private record Twin(Activations c, Activations g, int rows, int cols) {
        Twin columns(int from, int width) {
            return new Twin(c.columns(from, width), g.columns(from, width), rows, width);
        }
    }

    private record TwinWeight(DeviceWeight c, DeviceWeight g) {
    }

    private float[] randoms(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) random.nextGaussian();
        }
        return v;
    }

    private static TensorView tensor(float[] values, int rows, int cols) {
        MemorySegment data = ARENA.allocate(4L * values.length, 64);
        MemorySegment.copy(values, 0, data, ValueLayout.JAVA_FLOAT, 0, values.length);
        return new TensorView("random", "test", DType.F32, new long[]{rows, cols}, data);
    }

    private TwinWeight weight(int rows, int cols) {
        TensorView t = tensor(randoms(rows * cols), rows, cols);
        return new TwinWeight(cpu.weight(t), gpu.weight(t));
    }

    /** Random rows, placed through an embedding lookup (the interface has no other host → device path). */
    private Twin rows(int rows, int cols) {
        TwinWeight table = weight(rows, cols);
        Twin t = new Twin(cpu.allocate(rows, cols), gpu.allocate(rows, cols), rows, cols);
        int[] ids = new int[rows];
        for (int i = 0; i < rows; i++) {
            ids[i] = i;
        }
        cpu.embed(t.c, table.c, ids, rows);
        gpu.embed(t.g, table.g, ids, rows);
        return t;
    }

    private Twin empty(int rows, int cols) {
        Twin t = new Twin(cpu.allocate(rows, cols), gpu.allocate(rows, cols), rows, cols);
        poison(t);
        return t;
    }

    /** NaN everywhere on the device (and zeros on the CPU, whose result overwrites them anyway). */
    private void poison(Twin t) {
        TwinWeight nan = new TwinWeight(null, gpu.weight(tensor(filled(t.cols, Float.NaN), 1, t.cols)));
        gpu.embed(t.g, nan.g, new int[t.rows], t.rows);
    }

    private static float[] filled(int n, float value) {
        float[] v = new float[n];
        java.util.Arrays.fill(v, value);
        return v;
    }

    private static void assertClose(Twin t, String what) {
        assertClose(t, t.rows, what);
    }

    private static void assertClose(Twin t, int rows, String what) {
        float[] expected = new float[rows * t.cols];
        float[] actual = new float[rows * t.cols];
        cpu.copyToHost(t.c, rows, expected);
        gpu.copyToHost(t.g, rows, actual);
        double error = relativeL2(actual, expected);
        assertTrue(error < BOUND, what + ": relative L2 " + error + " (infinite: an element was not finite)");
    }

    @Test
    void shouldMultiplyByWeightsAndTheirTransposeOnStridedRows() {
        Twin wide = rows(7, 100);
        Twin in = wide.columns(10, 64);
        TwinWeight w = weight(48, 64);
        Twin outWide = empty(7, 80);
        Twin out = outWide.columns(16, 48);
        cpu.matmul(out.c, in.c, w.c, 7);
        gpu.matmul(out.g, in.g, w.g, 7);
        assertClose(out, "matmul");
        Twin back = empty(7, 64);
        cpu.matmulTransposed(back.c, out.c, w.c, 7);
        gpu.matmulTransposed(back.g, out.g, w.g, 7);
        assertClose(back, "matmulTransposed");
    }

    @Test
    void shouldRunGroupedMatmulsOverRowRangesAndCombineRowsInOrder() {
        Twin in = rows(13, 64);
        TwinWeight[] w = {weight(48, 64), weight(48, 64), weight(48, 64)};
        int[] offsets = {0, 5, 5, 13}; // an empty group in the middle
        DeviceWeight[] wc = {w[0].c, w[1].c, w[2].c};
        DeviceWeight[] wg = {w[0].g, w[1].g, w[2].g};
        Twin out = empty(13, 48);
        cpu.matmulGroups(out.c, in.c, wc, offsets, 3, false);
        gpu.matmulGroups(out.g, in.g, wg, offsets, 3, false);
        assertClose(out, "matmulGroups");
        Twin back = empty(13, 64);
        cpu.matmulGroups(back.c, out.c, wc, offsets, 3, true);
        gpu.matmulGroups(back.g, out.g, wg, offsets, 3, true);
        assertClose(back, "matmulGroups transposed");
        Twin acc = rows(6, 48);
        int[] targets = {4, 0, 2};
        int[] start = {0, 2, 3, 6};
        int[] source = {12, 1, 7, 0, 3, 3};
        float[] weights = {0.25f, -1.5f, 2f, 0.5f, 1f, -0.75f};
        cpu.combineRows(acc.c, out.c, targets, start, source, weights, 3);
        gpu.combineRows(acc.g, out.g, targets, start, source, weights, 3);
        assertClose(acc, "combineRows");
    }

    @Test
    void shouldNormaliseClampAndCombineRows() {
        Twin x = rows(5, 96);
        TwinWeight gain = weight(1, 96);
        Twin out = empty(5, 96);
        cpu.rmsNorm(out.c, x.c, gain.c, 1e-5f, 5);
        gpu.rmsNorm(out.g, x.g, gain.g, 1e-5f, 5);
        assertClose(out, "rmsNorm");
        cpu.layerNorm(out.c, x.c, gain.c, 1e-5f, 5);
        gpu.layerNorm(out.g, x.g, gain.g, 1e-5f, 5);
        assertClose(out, "layerNorm");
        cpu.clamp(x.c, 0.5f, 5);
        gpu.clamp(x.g, 0.5f, 5);
        assertClose(x, "clamp");
        Twin up = rows(5, 96);
        cpu.siluMul(out.c, up.c, 5);
        gpu.siluMul(out.g, up.g, 5);
        assertClose(out, "siluMul");
        cpu.add(out.c, up.c, 5);
        gpu.add(out.g, up.g, 5);
        assertClose(out, "add");
        cpu.zero(out.c, 3);
        gpu.zero(out.g, 3);
        assertClose(out, "zero");
    }

    @Test
    void shouldRouteDenseAsTheHostRouterDoesAndScaleExperts() {
        for (int[] shape : new int[][]{{8, 2}, {16, 4}}) {
            Twin logits = rows(9, shape[0]);
            Twin gates = empty(9, shape[0]);
            cpu.routeDense(gates.c, logits.c, shape[1], 1f, 9);
            gpu.routeDense(gates.g, logits.g, shape[1], 1f, 9);
            assertClose(gates, "routeDense " + shape[0] + " experts top " + shape[1]);
            Twin g = rows(9, 40);
            Twin u = rows(9, 40);
            cpu.siluMulScaled(g.c, u.c, gates.c, 3, 9);
            gpu.siluMulScaled(g.g, u.g, gates.g, 3, 9);
            assertClose(g, "siluMulScaled");
        }
    }

    @Test
    void shouldBringEachRowsPicksToTheHostAsTheHostRouterChoosesThem() {
        for (int[] shape : new int[][]{{8, 2, 1}, {16, 4, 1}, {8, 2, 0}}) {
            int rows = 9;
            int experts = shape[0];
            int topK = shape[1];
            float normP = shape[2];
            Twin logits = rows(rows, experts);
            float[] host = new float[rows * experts];
            cpu.copyToHost(logits.c, rows, host);
            Router router = new Router(experts, topK, normP);
            int[] wantExpert = new int[rows * topK];
            float[] wantWeight = new float[rows * topK];
            for (int r = 0; r < rows; r++) {
                router.route(host, r * experts, wantExpert, wantWeight, r * topK);
            }
            int[] expert = new int[rows * topK];
            float[] weight = new float[rows * topK];
            assertFalse(cpu.routeToHost(logits.c, topK, normP, rows, expert, weight), "the CPU routes on the host");
            assertTrue(gpu.routeToHost(logits.g, topK, normP, rows, expert, weight));
            String what = experts + " experts top " + topK + ", p " + normP;
            assertArrayEquals(wantExpert, expert, "picks largest first, " + what);
            assertArrayEquals(wantWeight, weight, 1e-6f, "weights, " + what);
        }
    }

    /** A random bf16 tensor, the same bits on both backends. */
    private TensorView bf16Tensor(int rows, int cols) {
        MemorySegment data = ARENA.allocate(2L * rows * cols, 64);
        for (long i = 0; i < (long) rows * cols; i++) {
            data.setAtIndex(ValueLayout.JAVA_SHORT, i, (short) (Float.floatToRawIntBits((float) random.nextGaussian()) >>> 16));
        }
        return new TensorView("random-bf16", "test", DType.BF16, new long[]{rows, cols}, data);
    }

    @Test
    void shouldRunSmallBf16ProductsThroughTheGemvAndSkipUnroutedExperts() {
        try (CudaBackend bf16 = new CudaBackend(CudaDevice.open(0), true, System.err::println)) {
            gemv(bf16, 300);    // few columns: the block's warps split K
            gemv(bf16, 17_000); // enough columns that each warp takes its own
        }
    }

    /**
     * bf16 products of 3-200 rows with few output tiles (256 columns): K is cut into parts, one
     * batched GEMM, and the parts summed; the CPU's product of the same weights is the reference.
     */
    @Test
    void shouldSplitKOfBf16ProductsWithFewOutputTilesAsTheWholeProduct() {
        try (CudaBackend bf16 = new CudaBackend(CudaDevice.open(0), true, System.err::println)) {
            TensorView w = bf16Tensor(256, 1024);
            DeviceWeight wc = cpu.weight(w);
            DeviceWeight wg = bf16.weight(w);
            for (int rows : new int[]{3, 40, 200}) {
                Activations[] x = bf16Rows(bf16, rows, 1024);
                Activations xc = x[0];
                Activations xg = x[1];
                Activations oc = cpu.allocate(rows, 256);
                Activations og = bf16.allocate(rows, 256);
                cpu.matmul(oc, xc, wc, rows);
                bf16.matmul(og, xg, wg, rows);
                float[] expected = new float[rows * 256];
                float[] actual = new float[rows * 256];
                cpu.copyToHost(oc, rows, expected);
                bf16.copyToHost(og, rows, actual);
                assertTrue(relativeL2(actual, expected) < BOUND,
                        "split-K product of " + rows + " rows: " + relativeL2(actual, expected));
            }
        }
    }

    private void gemv(CudaBackend bf16, int columns) {
        TensorView w = bf16Tensor(columns, 256);
        DeviceWeight wc = cpu.weight(w);
        DeviceWeight wg = bf16.weight(w);
        for (int rows : new int[]{1, 2}) {
            TensorView table = bf16Tensor(rows, 256);
            Activations xc = cpu.allocate(rows, 256);
            Activations xg = bf16.allocate(rows, 256);
            int[] ids = java.util.stream.IntStream.range(0, rows).toArray();
            cpu.embed(xc, cpu.weight(table), ids, rows);
            bf16.embed(xg, bf16.weight(table), ids, rows);
            Activations oc = cpu.allocate(rows, columns);
            Activations og = bf16.allocate(rows, columns);
            cpu.matmul(oc, xc, wc, rows);
            TensorView allRouted = tensor(new float[]{1f, 1f}, 1, 2);
            Activations routedGates = bf16.allocate(rows, 2);
            bf16.embed(routedGates, bf16.weight(allRouted), new int[rows], rows);
            bf16.matmulIfRouted(og, xg, wg, rows, routedGates, 0); // the GEMV
            float[] expected = new float[rows * columns];
            float[] actual = new float[rows * columns];
            cpu.copyToHost(oc, rows, expected);
            bf16.copyToHost(og, rows, actual);
            assertTrue(relativeL2(actual, expected) < BOUND,
                    "gemv rows " + rows + ", columns " + columns + ": " + relativeL2(actual, expected));
            // gates: expert 0 routed by the last row only, expert 1 by none
            TensorView gateTable = tensor(new float[]{0f, 0f}, 1, 2);
            Activations gates = bf16.allocate(rows, 2);
            bf16.embed(gates, bf16.weight(gateTable), new int[rows], rows);
            TensorView routed = tensor(new float[]{0.5f, 0f}, 1, 2);
            bf16.embed(gates.rows(rows - 1, 1), bf16.weight(routed), new int[1], 1);
            bf16.matmulAddIfRouted(og, xg, wg, false, rows, gates, 1, null); // skipped: og unchanged
            bf16.copyToHost(og, rows, actual);
            assertTrue(relativeL2(actual, expected) < BOUND, "an unrouted expert left the rows alone");
            bf16.matmulAddIfRouted(og, xg, wg, false, rows, gates, 0, null); // routed: og doubles
            bf16.copyToHost(og, rows, actual);
            for (int i = 0; i < expected.length; i++) {
                expected[i] *= 2;
            }
            assertTrue(relativeL2(actual, expected) < BOUND, "a routed expert accumulated");
        }
    }

    private static double relativeL2(float[] actual, float[] expected) {
        double diff = 0, norm = 0;
        for (int i = 0; i < expected.length; i++) {
            if (!Float.isFinite(actual[i])) {
                return Double.POSITIVE_INFINITY;
            }
            diff += (double) (actual[i] - expected[i]) * (actual[i] - expected[i]);
            norm += (double) expected[i] * expected[i];
        }
        return Math.sqrt(diff / Math.max(norm, 1e-30));
    }

    @Test
    void shouldSampleGreedilyAndFromTheSameDistributionAsTheHost() {
        int vocab = 3000;
        Twin logits = rows(4, vocab);
        int[] expected = new int[4];
        int[] actual = new int[4];
        float[] greedy = new float[4];
        float[] topP = {1f, 1f, 1f, 1f};
        float[] draws = new float[4];
        int[] noTopK = new int[4];
        float[] noMinP = new float[4];
        cpu.sampleRows(logits.c, 4, greedy, topP, noTopK, noMinP, draws, expected);
        gpu.sampleRows(logits.g, 4, greedy, topP, noTopK, noMinP, draws, actual);
        assertArrayEquals(expected, actual, "argmax of random rows");
        TensorView tied = tensor(filled(vocab, 1f), 1, vocab); // every value the same: index 0
        Twin flat = new Twin(cpu.allocate(1, vocab), gpu.allocate(1, vocab), 1, vocab);
        gpu.embed(flat.g, gpu.weight(tied), new int[1], 1);
        gpu.sampleRows(flat.g, 1, greedy, topP, noTopK, noMinP, draws, actual);
        assertArrayEquals(new int[]{0}, new int[]{actual[0]}, "ties go to the first index");
        // sampled: over many draws the host and the device pick tokens with the same frequencies;
        // logits scaled so that a few tokens carry the mass and 400 draws can tell distributions apart
        float[] peaked = randoms(4 * vocab);
        for (int i = 0; i < peaked.length; i++) {
            peaked[i] *= 8;
        }
        TensorView peakedTable = tensor(peaked, 4, vocab);
        cpu.embed(logits.c, cpu.weight(peakedTable), new int[]{0, 1, 2, 3}, 4);
        gpu.embed(logits.g, gpu.weight(peakedTable), new int[]{0, 1, 2, 3}, 4);
        float[] temperature = {0.7f, 0.7f, 1.3f, 1.3f};
        float[] cut = {1f, 0.9f, 1f, 0.5f};
        int[] topK = {0, 0, 3, 0};     // row 2: top-k, row 3: min-p with top-p
        float[] minP = {0f, 0f, 0f, 0.2f};
        int draws4 = 400;
        double[][] hostCounts = new double[4][vocab];
        double[][] deviceCounts = new double[4][vocab];
        for (int d = 0; d < draws4; d++) {
            for (int r = 0; r < 4; r++) {
                draws[r] = (d + 0.5f) / draws4; // the same stratified draws on both sides
            }
            cpu.sampleRows(logits.c, 4, temperature, cut, topK, minP, draws, expected);
            gpu.sampleRows(logits.g, 4, temperature, cut, topK, minP, draws, actual);
            for (int r = 0; r < 4; r++) {
                hostCounts[r][expected[r]]++;
                deviceCounts[r][actual[r]]++;
            }
        }
        for (int r = 0; r < 4; r++) {
            double differ = 0;
            for (int v = 0; v < vocab; v++) {
                differ += Math.abs(hostCounts[r][v] - deviceCounts[r][v]);
            }
            // the inverse CDF walks tokens in another order (index, not probability), so single draws
            // differ; the counts of the same stratified draws match up to the strata at the edges
            assertTrue(differ / draws4 < 0.1, "row " + r + ": total variation " + differ / (2 * draws4));
        }
    }

    /** Host memory → device rows → other host memory by DMA, every bit kept; a column view row by row. */
    @Test
    void shouldCopyRowsBetweenHostMappedAndDeviceMemoryExactly() {
        int rows = 7;
        int cols = 96;
        float[] values = randoms(rows * cols);
        MemorySegment from = ARENA.allocate(4L * rows * cols, 64);
        MemorySegment to = ARENA.allocate(4L * rows * cols, 64);
        MemorySegment.copy(values, 0, from, ValueLayout.JAVA_FLOAT, 0, values.length);
        Activations hostIn = gpu.wrapHost(from, rows, cols);
        Activations hostOut = gpu.wrapHost(to, rows, cols);
        Activations device = gpu.allocate(rows, cols);
        gpu.copyRows(device, hostIn, rows - 1);                     // the last row stays out
        gpu.copyRows(hostOut, device, rows - 1);
        gpu.copyRows(hostOut.columns(32, 40), hostIn.columns(8, 40), 1); // strided: row 0, columns shifted
        gpu.awaitWrites();
        float[] copied = to.toArray(ValueLayout.JAVA_FLOAT);
        for (int r = 0; r < rows - 1; r++) {
            for (int c = 0; c < cols; c++) {
                float expected = r == 0 && c >= 32 && c < 72 ? values[c - 24] : values[r * cols + c];
                assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(copied[r * cols + c]),
                        "row " + r + ", column " + c);
            }
        }
        for (int c = 0; c < cols; c++) {
            assertEquals(0, Float.floatToRawIntBits(copied[(rows - 1) * cols + c]), "the row not copied, column " + c);
        }
    }

    /** bf16 rows to and from host memory: bit for bit what the CPU backend makes, specials included. */
    @Test
    void shouldCopyRowsToAndFromHostBf16AsTheCpuDoes() {
        int rows = 6;
        int cols = 80;
        float[] values = randoms(rows * cols);
        float[] specials = {Float.NaN, Float.POSITIVE_INFINITY, -0f, Float.MIN_VALUE, 1.00390625f, 1.01171875f};
        System.arraycopy(specials, 0, values, 0, specials.length);
        Twin source = empty(rows, cols + 8).columns(4, cols); // strided rows on the device
        MemorySegment staging = ARENA.allocate(4L * rows * cols, 64);
        MemorySegment.copy(values, 0, staging, ValueLayout.JAVA_FLOAT, 0, values.length);
        gpu.copyRows(source.g, gpu.wrapHost(staging, rows, cols), rows);
        cpu.copyRows(source.c, cpu.wrapHost(staging, rows, cols), rows);
        MemorySegment fromGpu = ARENA.allocate(2L * rows * cols, 64);
        MemorySegment fromCpu = ARENA.allocate(2L * rows * cols, 64);
        gpu.copyRowsToBf16(fromGpu, source.g, rows);
        cpu.copyRowsToBf16(fromCpu, source.c, rows);
        gpu.awaitWrites();
        assertArrayEquals(fromCpu.toArray(ValueLayout.JAVA_SHORT), fromGpu.toArray(ValueLayout.JAVA_SHORT), "rounded rows");
        Twin back = empty(rows, cols);
        gpu.copyRowsFromBf16(back.g, fromGpu, rows);
        cpu.copyRowsFromBf16(back.c, fromCpu, rows);
        float[] expected = new float[rows * cols];
        float[] actual = new float[rows * cols];
        cpu.copyToHost(back.c, rows, expected);
        gpu.copyToHost(back.g, rows, actual);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(actual[i]), "widened element " + i);
        }
    }

    @Test
    void shouldGatherAndScatterRowsIncludingRepeatedTargets() {
        Twin in = rows(6, 40);
        Twin gathered = empty(5, 40);
        int[] index = {5, 0, 3, 3, 1};
        cpu.gatherRows(gathered.c, in.c, index, 5);
        gpu.gatherRows(gathered.g, in.g, index, 5);
        assertClose(gathered, "gatherRows");
        Twin acc = rows(4, 40);
        int[] targets = {2, 0, 2, 3, 1};
        float[] scale = {0.5f, -1.25f, 2f, 0.125f, 3f};
        cpu.scatterAddScaled(acc.c, gathered.c, targets, scale, 5);
        gpu.scatterAddScaled(acc.g, gathered.g, targets, scale, 5);
        assertClose(acc, "scatterAddScaled");
    }

    @Test
    void shouldRotateHeadsAsTransformersDoes() {
        for (int headDim : new int[]{16, 128}) {
            Twin x = rows(6, 4 * headDim);
            int[] positions = {0, 1, 17, 255, 4095, 31_000};
            cpu.rope(x.c, headDim, 1e6, positions, 6);
            gpu.rope(x.g, headDim, 1e6, positions, 6);
            assertClose(x, "rope headDim " + headDim);
        }
    }

    @Test
    void shouldStoreAndReadKvRowsExactly() {
        KvStorage kc = cpu.allocateKv(2, 8, 4, 2, 16);
        KvStorage kg = gpu.allocateKv(2, 8, 4, 2, 16);
        Twin k = rows(3, 32);
        Twin v = rows(3, 32);
        int[] slots = {31, 0, 9};
        cpu.writeKv(kc, 1, k.c, v.c, slots, 3);
        gpu.writeKv(kg, 1, k.g, v.g, slots, 3);
        float[][] c = readBoth(kc, 1, slots, cpu);
        float[][] g = readBoth(kg, 1, slots, gpu);
        assertArrayEquals(c[0], g[0], "keys");
        assertArrayEquals(c[1], g[1], "values");
        float[] keys = randoms(3 * 32);
        float[] values = randoms(3 * 32);
        gpu.writeKvRows(kg, 0, slots, 3, keys, values);
        float[][] back = readBoth(kg, 0, slots, gpu);
        assertArrayEquals(keys, back[0], "keys written as rows");
        assertArrayEquals(values, back[1], "values written as rows");
    }

    private static float[][] readBoth(KvStorage kv, int layer, int[] slots, ComputeBackend backend) {
        float[] keys = new float[slots.length * 32];
        float[] values = new float[slots.length * 32];
        backend.readKv(kv, layer, slots, slots.length, keys, values);
        return new float[][]{keys, values};
    }

    @Test
    void shouldAttendOverPagedCacheForPrefillAndDecodeRowsWithGroupedHeads() {
        for (int headDim : new int[]{16, 128}) {
            for (int window : new int[]{0, 5}) {
                for (int group : new int[]{1, 3, 4, 12}) { // decode kernels for 1, 4 (3 of them), 4 and 8 heads a block
                    attend(headDim, 2, group, window);
                }
            }
        }
    }

    /** Sequence A prefills positions 0..10 (11 rows); sequence B decodes one token at position 40. */
    private void attend(int headDim, int kvHeads, int group, int window) {
        int blockSize = 4;
        int blocks = 20;
        KvStorage kc = cpu.allocateKv(1, blocks, blockSize, kvHeads, headDim);
        KvStorage kg = gpu.allocateKv(1, blocks, blockSize, kvHeads, headDim);
        int[] tableA = {7, 2, 19};
        int[] tableB = {0, 3, 5, 8, 1, 4, 6, 9, 10, 11, 12};
        int width = kvHeads * headDim;
        // fill B's history (positions 0..39) through writeKv
        Twin kHist = rows(40, width);
        Twin vHist = rows(40, width);
        int[] histSlots = new int[40];
        for (int p = 0; p < 40; p++) {
            histSlots[p] = tableB[p / blockSize] * blockSize + p % blockSize;
        }
        cpu.writeKv(kc, 0, kHist.c, vHist.c, histSlots, 40);
        gpu.writeKv(kg, 0, kHist.g, vHist.g, histSlots, 40);
        TokenBatch batch = new TokenBatch(12);
        for (int p = 0; p <= 10; p++) {
            batch.add(1, p, tableA[p / blockSize] * blockSize + p % blockSize, tableA);
        }
        batch.add(1, 40, tableB[40 / blockSize] * blockSize, tableB);
        Twin k = rows(12, width);
        Twin v = rows(12, width);
        cpu.writeKv(kc, 0, k.c, v.c, batch.slots, 12);
        gpu.writeKv(kg, 0, k.g, v.g, batch.slots, 12);
        Twin q = rows(12, kvHeads * group * headDim);
        Twin out = empty(12, kvHeads * group * headDim);
        cpu.attention(out.c, q.c, kc, 0, batch, headDim, window);
        gpu.attention(out.g, q.g, kg, 0, batch, headDim, window);
        assertClose(out, "attention headDim " + headDim + " window " + window + " group " + group);
    }

    /**
     * The tensor-core prefill kernel (bf16 cache) against the CPU's exact attention on the same
     * bf16-representable keys, values and queries: only the rounding of scaled queries and of the
     * probabilities to bf16 separates them (about 2^-9 relative each). Sequence A prefills 150
     * rows (three tiles, the last one partial) after 70 cached positions; sequence B prefills 21.
     */
    @Test
    void shouldAttendOnTensorCoresWithinBf16RoundingOfTheExactResult() {
        try (CudaBackend bf16 = new CudaBackend(CudaDevice.open(0), true, System.err::println)) {
            for (int headDim : new int[]{16, 128}) {
                for (int window : new int[]{0, 37}) {
                    double error = attendBf16(bf16, headDim, 2, 4, window);
                    assertTrue(error < 1e-2, "headDim " + headDim + " window " + window + ": relative L2 " + error);
                }
            }
        }
    }

    private double attendBf16(CudaBackend bf16, int headDim, int kvHeads, int group, int window) {
        int blockSize = 16;
        int history = 70;
        int prefillA = 150;
        int prefillB = 21;
        int width = kvHeads * headDim;
        int[] tableA = java.util.stream.IntStream.range(0, 15).map(b -> 2 * b + 1).toArray(); // odd blocks
        int[] tableB = {4, 0, 2};
        KvStorage kc = cpu.allocateKv(1, 32, blockSize, kvHeads, headDim);
        KvStorage kg = bf16.allocateKv(1, 32, blockSize, kvHeads, headDim);
        int rows = prefillA + prefillB;
        TokenBatch batch = new TokenBatch(rows);
        int[] historySlots = new int[history];
        for (int p = 0; p < history; p++) {
            historySlots[p] = tableA[p / blockSize] * blockSize + p % blockSize;
        }
        for (int p = history; p < history + prefillA; p++) {
            batch.add(1, p, tableA[p / blockSize] * blockSize + p % blockSize, tableA);
        }
        for (int p = 0; p < prefillB; p++) {
            batch.add(1, p, tableB[p / blockSize] * blockSize + p % blockSize, tableB);
        }
        Activations[] kHist = bf16Rows(bf16, history, width);
        Activations[] vHist = bf16Rows(bf16, history, width);
        cpu.writeKv(kc, 0, kHist[0], vHist[0], historySlots, history);
        bf16.writeKv(kg, 0, kHist[1], vHist[1], historySlots, history);
        Activations[] k = bf16Rows(bf16, rows, width);
        Activations[] v = bf16Rows(bf16, rows, width);
        cpu.writeKv(kc, 0, k[0], v[0], batch.slots, rows);
        bf16.writeKv(kg, 0, k[1], v[1], batch.slots, rows);
        Activations[] q = bf16Rows(bf16, rows, kvHeads * group * headDim);
        Activations oc = cpu.allocate(rows, kvHeads * group * headDim);
        Activations og = bf16.allocate(rows, kvHeads * group * headDim);
        cpu.attention(oc, q[0], kc, 0, batch, headDim, window);
        bf16.attention(og, q[1], kg, 0, batch, headDim, window);
        float[] expected = new float[rows * kvHeads * group * headDim];
        float[] actual = new float[expected.length];
        cpu.copyToHost(oc, rows, expected);
        bf16.copyToHost(og, rows, actual);
        return relativeL2(actual, expected);
    }

    /** The same random bf16 values as float32 rows on the CPU and on {@code bf16}. */
    private Activations[] bf16Rows(CudaBackend bf16, int rows, int cols) {
        TensorView table = bf16Tensor(rows, cols);
        int[] ids = java.util.stream.IntStream.range(0, rows).toArray();
        Activations c = cpu.allocate(rows, cols);
        Activations g = bf16.allocate(rows, cols);
        cpu.embed(c, cpu.weight(table), ids, rows);
        bf16.embed(g, bf16.weight(table), ids, rows);
        return new Activations[]{c, g};
    }

    /**
     * The decode-sized MoE from device gates against the definition, worked on the host from the
     * same bf16 values and the device's own gates: Σ_e gate · down_e(silu(gate_e·x) ⊙ up_e·x).
     * 1-2 rows (k · rows ≤ experts) take the routed GEMV, more the batched GEMMs over all experts.
     */
    @Test
    void shouldRunTheExpertsFromDeviceGatesAsTheDefinitionSays() {
        int experts = 4, topK = 2, hidden = 64, ffn = 96;
        try (CudaBackend bf16 = new CudaBackend(CudaDevice.open(0), true, System.err::println)) {
            ExpertWeights weights = expertWeights(bf16, experts, hidden, ffn, false);
            DeviceWeight[] gateUp = weights.gateUp, down = weights.down;
            float[][] gateUpHost = weights.gateUpHost, downHost = weights.downHost;
            for (int rows : new int[]{1, 2, 3, 4, 16}) {
                Activations[] x = bf16Rows(bf16, rows, hidden);
                Activations[] logits = bf16Rows(bf16, rows, experts);
                Activations gates = bf16.allocate(rows, experts);
                bf16.routeDense(gates, logits[1], topK, 1f, rows);
                Activations out = bf16.allocate(rows, hidden);
                bf16.expertsFromGates(out, x[1], gates, topK, gateUp, down, rows);
                float[] g = new float[rows * experts];
                float[] xs = new float[rows * hidden];
                float[] actual = new float[rows * hidden];
                bf16.copyToHost(gates, rows, g);
                cpu.copyToHost(x[0], rows, xs);
                bf16.copyToHost(out, rows, actual);
                // the batched path rounds gate|up to bf16, weights silu(gate)·up and rounds it to bf16 as the
                // down GEMM's input
                boolean batched = rows * topK > experts;
                float[] expected = new float[rows * hidden];
                for (int r = 0; r < rows; r++) {
                    int routed = 0;
                    for (int e = 0; e < experts; e++) {
                        float w = g[r * experts + e];
                        if (w == 0f) {
                            continue;
                        }
                        routed++;
                        double[] h = new double[ffn];
                        for (int j = 0; j < ffn; j++) {
                            double a = dot(gateUpHost[e], j * hidden, xs, r * hidden, hidden);
                            double b = dot(gateUpHost[e], (ffn + j) * hidden, xs, r * hidden, hidden);
                            if (batched) {           // its gate|up products come out of the GEMM in bf16
                                a = roundToBf16((float) a);
                                b = roundToBf16((float) b);
                            }
                            h[j] = a / (1 + Math.exp(-a)) * b;
                            h[j] = batched ? roundToBf16((float) (h[j] * w)) : h[j];
                        }
                        for (int n = 0; n < hidden; n++) {
                            double acc = 0;
                            for (int j = 0; j < ffn; j++) {
                                acc += downHost[e][n * ffn + j] * h[j];
                            }
                            expected[r * hidden + n] += (float) (batched ? acc : w * acc);
                        }
                    }
                    assertTrue(routed == topK, "row " + r + " routes to " + routed + " experts");
                }
                double error = relativeL2(actual, expected);
                // batched: a gate|up element that lands on a bf16 rounding boundary may round the other way
                // from float32 accumulation than from this double one, a bf16 step (2^-8) in one of 96·2
                // hidden values: up to a few 1e-4 of the output (seen: 1.3e-4 over three rows); a wrong expert,
                // weight or row is off by order 1
                assertTrue(error < (batched ? 5e-4 : 1e-5), rows + " rows: relative L2 " + error);
            }
        }
    }

    /**
     * A prompt's experts over rows sorted by expert (expertGroups, bf16 weights) against the
     * definition worked on the host from the same bf16 values, Mixtral's layout (down (hidden,
     * ffn)) and DBRX's (down stored transposed), with an expert that has no rows: gate|up rounded
     * to bf16 as the GEMM writes it, silu(gate)·up rounded to bf16 as the down GEMM reads it.
     * The larger prompts give each expert a few hundred rows, no multiple of a GEMM tile, on the
     * experts' side streams.
     */
    @Test
    void shouldRunAPromptsExpertsOverSortedRowsAsTheDefinitionSays() {
        try (CudaBackend bf16 = new CudaBackend(CudaDevice.open(0), true, System.err::println)) {
            runExpertGroups(bf16, 64, 96, new int[]{0, 5, 5, 8, 17}); // expert 1 has no rows
            runExpertGroups(bf16, 256, 512, new int[]{0, 200, 450, 643});
            runExpertGroups(bf16, 256, 512, new int[]{0, 250, 443, 700});
        }
    }

    private void runExpertGroups(CudaBackend bf16, int hidden, int ffn, int[] offsets) {
        int groups = offsets.length - 1, rows = offsets[groups];
        for (boolean transposed : new boolean[]{false, true}) {
            ExpertWeights weights = expertWeights(bf16, groups, hidden, ffn, transposed);
            DeviceWeight[] gateUp = weights.gateUp, down = weights.down;
            float[][] gateUpHost = weights.gateUpHost, downHost = weights.downHost;
            Activations[] x = bf16Rows(bf16, rows, hidden);
            Activations scratch = bf16.allocate(rows, 2 * ffn);
            Activations out = bf16.allocate(rows, hidden);
            bf16.expertGroups(out, x[1], scratch, gateUp, down, offsets, groups, transposed);
            float[] xs = new float[rows * hidden];
            float[] actual = new float[rows * hidden];
            cpu.copyToHost(x[0], rows, xs);
            bf16.copyToHost(out, rows, actual);
            float[] expected = new float[rows * hidden];
            for (int e = 0; e < groups; e++) {
                for (int r = offsets[e]; r < offsets[e + 1]; r++) {
                    double[] h = new double[ffn];
                    for (int j = 0; j < ffn; j++) {
                        double a = dot(gateUpHost[e], j * hidden, xs, r * hidden, hidden);
                        double b = dot(gateUpHost[e], (ffn + j) * hidden, xs, r * hidden, hidden);
                        a = roundToBf16((float) a);
                        b = roundToBf16((float) b);
                        h[j] = roundToBf16((float) (a / (1 + Math.exp(-a)) * b));
                    }
                    for (int n = 0; n < hidden; n++) {
                        double acc = 0;
                        for (int j = 0; j < ffn; j++) {
                            acc += (transposed ? downHost[e][j * hidden + n] : downHost[e][n * ffn + j]) * h[j];
                        }
                        expected[r * hidden + n] = (float) acc;
                    }
                }
            }
            double error = relativeL2(actual, expected);
            // as for the batched experts above: a product on a bf16 rounding boundary may round the other way
            assertTrue(error < 5e-4, (transposed ? "transposed down" : "down") + ", groups "
                    + java.util.Arrays.toString(offsets) + ": relative L2 " + error);
        }
    }

    /**
     * A backend with a share of the device's memory (a node process beside others on its GPU):
     * what fits in the share is allocated, what does not fails at once naming the share, and the
     * KV budget is what the share leaves less the scratch reserve, never the device's free memory.
     */
    @Test
    void shouldStayWithinItsShareOfTheDeviceAndNameItWhenSomethingDoesNotFit() {
        CudaDevice device = CudaDevice.open(0);
        long total = device.memoryInfo()[1];
        double share = 4.0 * (1L << 30) / total; // 4 GiB of the device
        try (CudaBackend shared = new CudaBackend(device, true, share, System.err::println)) {
            Activations fits = shared.allocate(1 << 16, 4096); // 1 GiB
            assertTrue(fits.cols() == 4096);
            long budget = shared.kvMemoryBudget(0.9);
            assertTrue(budget > 0 && budget < 3L << 30, "the share's 4 GiB less 1 GiB held less the reserve: " + budget);
            String message = org.junit.jupiter.api.Assertions.assertThrows(dev.tandem.core.TandemException.class,
                    () -> shared.allocate(1 << 18, 4096)).getMessage(); // 4 GiB: more than the share leaves
            assertTrue(message.contains("--gpu-memory-utilization") && message.contains("activations"), message);
        }
    }

    /** Random bf16 experts on the device and their values on the host: stacked gate|up, down (transposed: DBRX's). */
    private record ExpertWeights(DeviceWeight[] gateUp, DeviceWeight[] down, float[][] gateUpHost, float[][] downHost) {
    }

    private ExpertWeights expertWeights(CudaBackend bf16, int experts, int hidden, int ffn, boolean downTransposed) {
        ExpertWeights w = new ExpertWeights(new DeviceWeight[experts], new DeviceWeight[experts], new float[experts][],
                new float[experts][]);
        for (int e = 0; e < experts; e++) {
            TensorView gu = bf16Tensor(2 * ffn, hidden);
            TensorView d = downTransposed ? bf16Tensor(ffn, hidden) : bf16Tensor(hidden, ffn);
            w.gateUp[e] = bf16.weight(gu);
            w.down[e] = bf16.weight(d);
            w.gateUpHost[e] = bf16Values(gu);
            w.downHost[e] = bf16Values(d);
        }
        return w;
    }

    /** Σ w[wAt + c] · x[xAt + c] over c < n, in double. */
    private static double dot(float[] w, int wAt, float[] x, int xAt, int n) {
        double sum = 0;
        for (int c = 0; c < n; c++) {
            sum += w[wAt + c] * x[xAt + c];
        }
        return sum;
    }

    /** Round to nearest even, as the kernels do. */
    private static float roundToBf16(float f) {
        int u = Float.floatToRawIntBits(f);
        return Float.intBitsToFloat((u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000);
    }

    private static float[] bf16Values(TensorView t) {
        int n = (int) (t.shape()[0] * t.shape()[1]);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = Float.intBitsToFloat(t.data().getAtIndex(ValueLayout.JAVA_SHORT, i) << 16);
        }
        return v;
    }
}
