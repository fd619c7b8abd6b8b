package dev.tandem.core.compute.cpu;

import dev.tandem.core.checkpoint.DType;
import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.DeviceWeight;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The per-row operations against double-precision scalar formulas, on column views of wider
 * buffers (the layout of a fused projection), checking that columns outside the view stay as
 * they were.
 */
class CpuRowOpsTest {
    private static final double TOLERANCE = 1e-5;
    private static final float SENTINEL = -777f;
    private static final int ROWS = 3;
    private static final int COLS = 100;
    private static final float EPS = 1e-5f;

    private final Random random = new Random(2024);
    private Arena arena;
    private CpuBackend backend;

    @BeforeEach
    void open() {
        arena = Arena.ofShared();
        backend = new CpuBackend(1);
    }

    @AfterEach
    void close() {
        backend.close();
        arena.close();
    }

    @Test
    void shouldRmsNormaliseEachRowAndScaleByGain() {
        TestTensors.Weight gain = TestTensors.weight(arena, DType.BF16, random, 0, COLS);
        float[] x = shifted(TestTensors.gaussian(random, ROWS * COLS), 0f);
        Activations in = view(COLS, 2, x);
        Activations out = view(COLS, 1, null);

        backend.rmsNorm(out, in, backend.weight(gain.view()), EPS, ROWS);

        float[] actual = TestTensors.download(out, ROWS);
        for (int r = 0; r < ROWS; r++) {
            double sumSquares = 0;
            for (int c = 0; c < COLS; c++) {
                sumSquares += (double) x[r * COLS + c] * x[r * COLS + c];
            }
            double inverse = 1 / Math.sqrt(sumSquares / COLS + EPS);
            for (int c = 0; c < COLS; c++) {
                double expected = x[r * COLS + c] * inverse * gain.at(0, c);
                assertClose(expected, actual[r * COLS + c], Math.abs(expected), "rmsNorm (" + r + ", " + c + ")");
            }
        }
        assertOutsideUntouched(out);
    }

    @Test
    void shouldLayerNormaliseEachRowWithoutBias() {
        TestTensors.Weight gain = TestTensors.weight(arena, DType.F32, random, 0, COLS);
        float[] x = shifted(TestTensors.gaussian(random, ROWS * COLS), 0.75f);
        Activations in = view(COLS, 3, x);
        Activations out = view(COLS, 2, null);

        backend.layerNorm(out, in, backend.weight(gain.view()), EPS, ROWS);

        float[] actual = TestTensors.download(out, ROWS);
        for (int r = 0; r < ROWS; r++) {
            double mean = 0;
            for (int c = 0; c < COLS; c++) {
                mean += x[r * COLS + c];
            }
            mean /= COLS;
            double variance = 0;
            for (int c = 0; c < COLS; c++) {
                variance += (x[r * COLS + c] - mean) * (x[r * COLS + c] - mean);
            }
            variance /= COLS;
            for (int c = 0; c < COLS; c++) {
                double expected = (x[r * COLS + c] - mean) / Math.sqrt(variance + EPS) * gain.at(0, c);
                // (x − mean) near zero carries the mean's rounding: scale by the gain as well
                assertClose(expected, actual[r * COLS + c], Math.abs(expected) + Math.abs(gain.at(0, c)),
                        "layerNorm (" + r + ", " + c + ")");
            }
        }
        assertOutsideUntouched(out);
    }

    @Test
    void shouldRotateHalvesOfEveryHeadByPositionTimesInverseFrequency() {
        int headDim = 16;
        int heads = 3;
        double theta = 10_000;
        int[] positions = {0, 1, 5, 127, 4095};
        int rows = positions.length;
        // rope on q, a view of a fused qkv buffer; the k columns beside it must not move
        Activations qkv = backend.allocate(rows, 2 * heads * headDim);
        Activations q = qkv.columns(0, heads * headDim);
        Activations k = qkv.columns(heads * headDim, heads * headDim);
        float[] x = TestTensors.gaussian(random, rows * heads * headDim);
        float[] kBefore = TestTensors.gaussian(random, rows * heads * headDim);
        TestTensors.upload(q, x, rows);
        TestTensors.upload(k, kBefore, rows);

        backend.rope(q, headDim, theta, positions, rows);

        float[] actual = TestTensors.download(q, rows);
        int half = headDim / 2;
        for (int r = 0; r < rows; r++) {
            for (int h = 0; h < heads; h++) {
                for (int j = 0; j < half; j++) {
                    double angle = positions[r] * Math.pow(theta, -2.0 * j / headDim);
                    int i = r * heads * headDim + h * headDim + j;
                    double a = x[i];
                    double b = x[i + half];
                    // the kernel forms the angle in float32, as transformers does: three roundings of
                    // about 6e-8 each, so the bound grows by 5e-7 rad per radian of angle
                    double magnitude = (Math.abs(a) + Math.abs(b)) * (1 + 5e-7 / TOLERANCE * angle);
                    String where = "rope row " + r + " head " + h + " pair " + j;
                    assertClose(a * Math.cos(angle) - b * Math.sin(angle), actual[i], magnitude, where);
                    assertClose(b * Math.cos(angle) + a * Math.sin(angle), actual[i + half], magnitude, where);
                }
            }
        }
        assertArrayEquals(kBefore, TestTensors.download(k, rows), "rope touched the columns beside its view");
    }

    @Test
    void shouldMultiplySiluOfGateByUp() {
        float[] g = TestTensors.gaussian(random, ROWS * COLS);
        g[0] = 0f;
        g[1] = 30f;
        g[2] = -30f;
        g[3] = -100f;
        float[] u = TestTensors.gaussian(random, ROWS * COLS);
        Activations gate = view(COLS, 1, g);
        Activations up = view(COLS, 4, u);

        backend.siluMul(gate, up, ROWS);

        float[] actual = TestTensors.download(gate, ROWS);
        for (int i = 0; i < g.length; i++) {
            double expected = g[i] / (1 + Math.exp(-g[i])) * u[i];
            assertClose(expected, actual[i], Math.abs(expected) + 1e-30, "siluMul element " + i);
        }
        assertOutsideUntouched(gate);
    }

    @Test
    void shouldClampToPlusMinusLimit() {
        float[] x = {-3f, -2.5f, -1f, 0f, 2.4999f, 2.5f, 7f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
        Activations a = view(x.length, 2, null);
        TestTensors.upload(a, x, 1);

        backend.clamp(a, 2.5f, 1);

        assertArrayEquals(new float[] {-2.5f, -2.5f, -1f, 0f, 2.4999f, 2.5f, 2.5f, 2.5f, -2.5f},
                TestTensors.download(a, 1));
    }

    @Test
    void shouldGatherRowsByIndexIncludingRepeats() {
        int cols = 5;
        float[] x = TestTensors.gaussian(random, 4 * cols);
        Activations in = backend.allocate(4, cols + 2).columns(2, cols);
        TestTensors.upload(in, x, 4);
        int[] rowIndex = {3, 0, 3, 1, 2};
        Activations out = backend.allocate(rowIndex.length, cols + 1).columns(1, cols);

        backend.gatherRows(out, in, rowIndex, rowIndex.length);

        float[] actual = TestTensors.download(out, rowIndex.length);
        for (int i = 0; i < rowIndex.length; i++) {
            for (int c = 0; c < cols; c++) {
                assertEquals(x[rowIndex[i] * cols + c], actual[i * cols + c], "row " + i + " col " + c);
            }
        }
    }

    @Test
    void shouldCopyRowsBetweenStridedViewsLeavingTheRestAlone() {
        int cols = 6;
        float[] x = TestTensors.gaussian(random, 3 * cols);
        Activations in = backend.allocate(3, cols + 3).columns(3, cols);
        TestTensors.upload(in, x, 3);
        Activations out = backend.allocate(3, cols);

        backend.copyRows(out, in, 2);

        float[] actual = TestTensors.download(out, 3);
        for (int i = 0; i < 3 * cols; i++) {
            assertEquals(i < 2 * cols ? x[i] : 0f, actual[i], "element " + i);
        }
    }

    /** Round to nearest even as torch does (hand values), strided source rows, and back exactly. */
    @Test
    void shouldCopyRowsToAndFromHostBf16RoundingToNearestEven() {
        float[] x = {1.0f, 1.00390625f, 1.01171875f, 1.005f, -2.5f, Float.POSITIVE_INFINITY};
        short[] bf16 = {0x3F80, 0x3F80, 0x3F82, 0x3F81, (short) 0xC020, 0x7F80};
        Activations in = backend.allocate(2, 5).columns(2, 3);
        TestTensors.upload(in, x, 2);
        MemorySegment host = Arena.ofAuto().allocate(2L * x.length);

        backend.copyRowsToBf16(host, in, 2);

        for (int i = 0; i < x.length; i++) {
            assertEquals(bf16[i], host.getAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i), "element " + i);
        }
        Activations back = backend.allocate(2, 3);
        backend.copyRowsFromBf16(back, host, 2);
        float[] widened = TestTensors.download(back, 2);
        for (int i = 0; i < x.length; i++) {
            assertEquals(Float.intBitsToFloat((bf16[i] & 0xFFFF) << 16), widened[i], "element " + i);
        }
    }

    @Test
    void shouldScatterAddScaledRowsIntoTheirTargetsAccumulatingRepeats() {
        int cols = 7;
        int targets = 3;
        float[] accBefore = TestTensors.gaussian(random, targets * cols);
        Activations acc = backend.allocate(targets, cols + 3).columns(1, cols);
        TestTensors.upload(acc, accBefore, targets);
        int[] rowIndex = {2, 0, 2, 2, 1};
        float[] scale = {0.25f, 1f, -0.5f, 0.125f, 2f};
        float[] x = TestTensors.gaussian(random, rowIndex.length * cols);
        Activations in = backend.allocate(rowIndex.length, cols + 2).columns(2, cols);
        TestTensors.upload(in, x, rowIndex.length);

        backend.scatterAddScaled(acc, in, rowIndex, scale, rowIndex.length);

        double[] expected = new double[targets * cols];
        double[] magnitude = new double[targets * cols];
        for (int i = 0; i < expected.length; i++) {
            expected[i] = accBefore[i];
            magnitude[i] = Math.abs(accBefore[i]);
        }
        for (int i = 0; i < rowIndex.length; i++) {
            for (int c = 0; c < cols; c++) {
                expected[rowIndex[i] * cols + c] += (double) scale[i] * x[i * cols + c];
                magnitude[rowIndex[i] * cols + c] += Math.abs((double) scale[i] * x[i * cols + c]);
            }
        }
        float[] actual = TestTensors.download(acc, targets);
        for (int i = 0; i < expected.length; i++) {
            assertClose(expected[i], actual[i], magnitude[i], "scatterAddScaled element " + i);
        }
    }

    @Test
    void shouldEmbedTokensAndAddAndZeroOnlyTheirView() {
        TestTensors.Weight table = TestTensors.weight(arena, DType.BF16, random, 10, COLS);
        DeviceWeight weight = backend.weight(table.view());
        int[] tokens = {9, 0, 9};
        Activations x = view(COLS, 2, null);
        backend.embed(x, weight, tokens, ROWS);
        float[] addend = TestTensors.gaussian(random, ROWS * COLS);
        backend.add(x, view(COLS, 1, addend), ROWS);

        float[] actual = TestTensors.download(x, ROWS);
        for (int r = 0; r < ROWS; r++) {
            for (int c = 0; c < COLS; c++) {
                double expected = table.at(tokens[r], c) + addend[r * COLS + c];
                assertClose(expected, actual[r * COLS + c], Math.abs(expected), "embed + add (" + r + ", " + c + ")");
            }
        }
        backend.zero(x, ROWS);
        assertArrayEquals(new float[ROWS * COLS], TestTensors.download(x, ROWS));
        assertOutsideUntouched(x);
    }

    /** A (ROWS, cols) view at column {@code from} of a wider buffer whose other columns hold the sentinel. */
    private Activations view(int cols, int from, float[] values) {
        Activations buffer = backend.allocate(ROWS, cols + from + 2);
        TestTensors.fill(buffer, SENTINEL);
        Activations view = buffer.columns(from, cols);
        if (values != null) {
            TestTensors.upload(view, values, ROWS);
        }
        return view;
    }

    private static void assertOutsideUntouched(Activations view) {
        CpuActivations v = (CpuActivations) view;
        for (int r = 0; r < v.rowCapacity; r++) {
            for (int c = 0; c < v.stride; c++) {
                if (c < v.offset || c >= v.offset + v.cols) {
                    assertEquals(SENTINEL, v.data.get(CpuActivations.FLOAT, ((long) r * v.stride + c) * Float.BYTES),
                            "column " + c + " of row " + r + " is outside the view");
                }
            }
        }
    }

    private static float[] shifted(float[] x, float by) {
        for (int i = 0; i < x.length; i++) {
            x[i] += by;
        }
        return x;
    }

    private static void assertClose(double expected, float actual, double magnitude, String where) {
        double error = Math.abs(actual - expected);
        if (!(error <= TOLERANCE * magnitude)) {
            fail(where + ": expected " + expected + ", got " + actual);
        }
    }
}
