package dev.tandem.core.compute.cpu;

import dev.tandem.core.checkpoint.DType;
import dev.tandem.core.checkpoint.TensorView;
import dev.tandem.core.compute.Activations;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;

/**
 * Test weights and activations for the kernel tests. Weight values are rounded to their dtype
 * here, by this class's own rounding, so the scalar oracles see exactly the numbers stored in
 * the bytes without going through the backend's decoding.
 */
final class TestTensors {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private TestTensors() {
    }

    /** A weight as the backend sees it and the values the oracle uses: (rows, cols) row-major. */
    record Weight(TensorView view, float[] values, int cols) {
        double at(int row, int col) {
            return values[row * cols + col];
        }
    }

    /**
     * A random (rows, cols) weight of {@code dtype}, stored little-endian one element past an
     * aligned address, as a tensor inside a memory-mapped checkpoint may be. A one-dimensional
     * shape is asked for with {@code rows == 0}.
     */
    static Weight weight(Arena arena, DType dtype, Random random, int rows, int cols) {
        int count = Math.max(rows, 1) * cols;
        float[] values = new float[count];
        MemorySegment data = arena.allocate((long) (count + 1) * dtype.bytes, 64)
                .asSlice(dtype.bytes, (long) count * dtype.bytes);
        for (int i = 0; i < count; i++) {
            values[i] = representable(dtype, (float) random.nextGaussian());
            switch (dtype) {
                case BF16 -> data.setAtIndex(SHORT, i, (short) (Float.floatToRawIntBits(values[i]) >>> 16));
                case F16 -> data.setAtIndex(SHORT, i, Float.floatToFloat16(values[i]));
                case F32 -> data.setAtIndex(FLOAT, i, values[i]);
                default -> throw new IllegalArgumentException(dtype.toString());
            }
        }
        long[] shape = rows == 0 ? new long[] {cols} : new long[] {rows, cols};
        return new Weight(new TensorView("w", "test", dtype, shape, data), values, cols);
    }

    /** {@code v} rounded to the nearest value of {@code dtype}, ties to even. */
    static float representable(DType dtype, float v) {
        return switch (dtype) {
            case BF16 -> {
                int bits = Float.floatToRawIntBits(v);
                int rounded = bits + 0x7FFF + ((bits >>> 16) & 1);
                yield Float.intBitsToFloat(rounded & 0xFFFF0000);
            }
            case F16 -> Float.float16ToFloat(Float.floatToFloat16(v));
            case F32 -> v;
            default -> throw new IllegalArgumentException(dtype.toString());
        };
    }

    static float[] gaussian(Random random, int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) random.nextGaussian();
        }
        return out;
    }

    /** Writes {@code values} (rows, a.cols) row-major into the activations, a view or not. */
    static void upload(Activations a, float[] values, int rows) {
        CpuActivations c = (CpuActivations) a;
        for (int r = 0; r < rows; r++) {
            for (int col = 0; col < c.cols; col++) {
                c.set(r, col, values[r * c.cols + col]);
            }
        }
    }

    /** Fills every element of the buffer with {@code value}. */
    static void fill(Activations a, float value) {
        CpuActivations c = (CpuActivations) a;
        for (int r = 0; r < c.rowCapacity; r++) {
            for (int col = 0; col < c.cols; col++) {
                c.set(r, col, value);
            }
        }
    }

    static float[] download(Activations a, int rows) {
        CpuActivations c = (CpuActivations) a;
        float[] out = new float[rows * c.cols];
        for (int r = 0; r < rows; r++) {
            for (int col = 0; col < c.cols; col++) {
                out[r * c.cols + col] = c.get(r, col);
            }
        }
        return out;
    }
}
