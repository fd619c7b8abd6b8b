package dev.tandem.core.compute.cpu;

import dev.tandem.core.checkpoint.DType;
import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.DeviceWeight;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@code matmul} and {@code matmulTransposed} against a double-precision scalar oracle, on shapes
 * that miss every block size the kernels use: K off the bf16 block, weight rows off the 16-row
 * task chunk, batches that leave 1 to 3 tokens after the 4-token passes, output columns off
 * the transposed kernel's strip. Inputs and outputs are column views of wider buffers, so a
 * kernel that ignores the row stride or writes outside its view fails.
 */
class CpuMatmulTest {
    /** Error bound relative to {@code Σ|w·x|}: float32 accumulation over 4K terms stays far below it. */
    private static final double RELATIVE_ERROR = 1e-5;
    private static final float SENTINEL = 1234.5f;
    private static final int[] K = {1, 15, 17, 33, 100, 4096 + 8};
    private static final int[] N = {1, 3, 17, 33};
    private static final int MAX_ROWS = 9;
    private static final int STRIP = 4 * Bf16.BLOCK; // TransposedMatmulKernel's strip of output columns
    private static final int[] D = {1, 17, STRIP - 1, STRIP, 2 * STRIP, 2 * STRIP + 5, 3 * STRIP + Bf16.BLOCK};
    private static final int[] F = {1, 3, 37};
    private static final int MAX_TRANSPOSED_ROWS = 5;

    private static Arena arena;

    @BeforeAll
    static void openArena() {
        arena = Arena.ofShared(); // kernel threads read the weights
    }

    @AfterAll
    static void closeArena() {
        arena.close();
    }

    static Stream<Arguments> dtypesAndThreads() {
        List<Arguments> cases = new ArrayList<>();
        for (DType dtype : new DType[] {DType.BF16, DType.F16, DType.F32}) {
            for (int threads = 1; threads <= 3; threads++) {
                cases.add(Arguments.of(dtype, threads));
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} weights, {1} threads")
    @MethodSource("dtypesAndThreads")
    void shouldMatchScalarOracleForAwkwardShapes(DType dtype, int threads) {
        Random random = new Random(31L * threads + dtype.ordinal());
        try (CpuBackend backend = new CpuBackend(threads)) {
            for (int k : K) {
                for (int n : N) {
                    TestTensors.Weight w = TestTensors.weight(arena, dtype, random, n, k);
                    DeviceWeight weight = backend.weight(w.view());
                    for (int rows = 1; rows <= MAX_ROWS; rows++) {
                        String where = dtype + " k=" + k + " n=" + n + " rows=" + rows + " threads=" + threads;
                        checkMatmul(backend, weight, w, 0, n, k, rows, random, where);
                    }
                }
            }
        }
    }

    @Test
    void shouldMultiplyByARowSliceOfAFusedWeight() {
        Random random = new Random(7);
        int k = 100;
        TestTensors.Weight fused = TestTensors.weight(arena, DType.BF16, random, 3 * 20, k);
        try (CpuBackend backend = new CpuBackend(2)) {
            DeviceWeight middle = backend.weight(fused.view()).rowSlice(20, 20);
            assertEquals(20, middle.rows());
            checkMatmul(backend, middle, fused, 20, 20, k, 6, random, "rows [20, 40) of a fused weight");
        }
    }

    @Test
    void shouldRejectMismatchedShapes() {
        Random random = new Random(8);
        TestTensors.Weight w = TestTensors.weight(arena, DType.F32, random, 4, 8);
        try (CpuBackend backend = new CpuBackend(1)) {
            DeviceWeight weight = backend.weight(w.view());
            assertThrows(IllegalArgumentException.class,
                    () -> backend.matmul(backend.allocate(2, 4), backend.allocate(2, 7), weight, 2));
            assertThrows(IllegalArgumentException.class,
                    () -> backend.matmul(backend.allocate(2, 4), backend.allocate(2, 8), weight, 3));
            assertThrows(IllegalArgumentException.class,
                    () -> backend.matmulTransposed(backend.allocate(2, 4), backend.allocate(2, 8), weight, 2));
        }
    }

    @ParameterizedTest(name = "{0} weights, {1} threads")
    @MethodSource("dtypesAndThreads")
    void shouldMatchScalarOracleForTransposedWeights(DType dtype, int threads) {
        Random random = new Random(131L * threads + dtype.ordinal());
        try (CpuBackend backend = new CpuBackend(threads)) {
            for (int f : F) {
                for (int d : D) {
                    TestTensors.Weight w = TestTensors.weight(arena, dtype, random, f, d);
                    DeviceWeight weight = backend.weight(w.view());
                    for (int rows = 1; rows <= MAX_TRANSPOSED_ROWS; rows++) {
                        checkTransposed(backend, weight, w, f, d, rows, random,
                                dtype + " f=" + f + " d=" + d + " rows=" + rows + " threads=" + threads);
                    }
                }
            }
        }
    }

    /** out = in · wᵀ for weight rows {@code [firstRow, firstRow + n)} of {@code w}. */
    private static void checkMatmul(CpuBackend backend, DeviceWeight weight, TestTensors.Weight w, int firstRow, int n,
                                    int k, int rows, Random random, String where) {
        Activations inBuffer = backend.allocate(MAX_ROWS, k + 5);
        Activations in = inBuffer.columns(3, k);
        Activations outBuffer = backend.allocate(MAX_ROWS, n + 4);
        Activations out = outBuffer.columns(2, n);
        float[] x = TestTensors.gaussian(random, rows * k);
        TestTensors.fill(inBuffer, Float.NaN); // poisons any read outside the view
        TestTensors.upload(in, x, rows);
        TestTensors.fill(outBuffer, SENTINEL);

        backend.matmul(out, in, weight, rows);

        float[] actual = new float[MAX_ROWS * (n + 4)];
        backend.copyToHost(outBuffer, MAX_ROWS, actual);
        for (int t = 0; t < MAX_ROWS; t++) {
            for (int c = 0; c < n + 4; c++) {
                float value = actual[t * (n + 4) + c];
                int col = c - 2;
                if (t >= rows || col < 0 || col >= n) {
                    assertEquals(SENTINEL, value, where + ": wrote outside the view at (" + t + ", " + c + ")");
                    continue;
                }
                double expected = 0;
                double magnitude = 0;
                for (int i = 0; i < k; i++) {
                    double term = w.at(firstRow + col, i) * x[t * k + i];
                    expected += term;
                    magnitude += Math.abs(term);
                }
                assertClose(expected, value, magnitude, where + " at (" + t + ", " + col + ")");
            }
        }
    }

    private static void checkTransposed(CpuBackend backend, DeviceWeight weight, TestTensors.Weight w, int f, int d,
                                        int rows, Random random, String where) {
        Activations inBuffer = backend.allocate(MAX_TRANSPOSED_ROWS, f + 3);
        Activations in = inBuffer.columns(1, f);
        Activations outBuffer = backend.allocate(MAX_TRANSPOSED_ROWS, d + 2);
        Activations out = outBuffer.columns(1, d);
        float[] x = TestTensors.gaussian(random, rows * f);
        for (int i = 0; i < x.length; i += 4) {
            x[i] = 0f; // the bf16 kernel skips zero inputs
        }
        TestTensors.fill(inBuffer, Float.NaN);
        TestTensors.upload(in, x, rows);
        TestTensors.fill(outBuffer, SENTINEL);

        backend.matmulTransposed(out, in, weight, rows);

        float[] actual = new float[MAX_TRANSPOSED_ROWS * (d + 2)];
        backend.copyToHost(outBuffer, MAX_TRANSPOSED_ROWS, actual);
        for (int t = 0; t < MAX_TRANSPOSED_ROWS; t++) {
            for (int c = 0; c < d + 2; c++) {
                float value = actual[t * (d + 2) + c];
                int col = c - 1;
                if (t >= rows || col < 0 || col >= d) {
                    assertEquals(SENTINEL, value, where + ": wrote outside the view at (" + t + ", " + c + ")");
                    continue;
                }
                double expected = 0;
                double magnitude = 0;
                for (int r = 0; r < f; r++) {
                    double term = x[t * f + r] * w.at(r, col);
                    expected += term;
                    magnitude += Math.abs(term);
                }
                assertClose(expected, value, magnitude, where + " at (" + t + ", " + col + ")");
            }
        }
    }

    private static void assertClose(double expected, float actual, double magnitude, String where) {
        double error = Math.abs(actual - expected);
        if (!(error <= RELATIVE_ERROR * magnitude + Double.MIN_NORMAL)) {
            fail(where + ": expected " + expected + ", got " + actual + " (error " + error / Math.max(magnitude, 1e-30)
                    + " of Σ|w·x| = " + magnitude + ")");
        }
    }
}
