package dev.tandem.core.checkpoint;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * A tensor as stored in a checkpoint: its bytes stay in the memory-mapped file.
 *
 * @param name   the tensor's name in the checkpoint
 * @param file   the file that holds it, for error messages
 * @param dtype  element type
 * @param shape  row-major dimensions
 * @param data   exactly the tensor's bytes (little-endian), a slice of the mapping
 */
public record TensorView(String name, String file, DType dtype, long[] shape, MemorySegment data) {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED;

    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    public int rows() {
        return shape.length == 1 ? 1 : Math.toIntExact(shape[0]);
    }

    public int cols() {
        return Math.toIntExact(shape[shape.length - 1]);
    }

    /** Element {@code i} widened to float; for cold paths (tests, loaders), not kernels. */
    public float getFloat(long i) {
        return switch (dtype) {
            case BF16 -> Float.intBitsToFloat(data.getAtIndex(SHORT, i) << 16);
            case F16 -> Float.float16ToFloat(data.getAtIndex(SHORT, i));
            case F32 -> data.getAtIndex(FLOAT, i);
            default -> throw new IllegalStateException(name + " is " + dtype + ", not a float tensor");
        };
    }

    public long getLong(long i) {
        return switch (dtype) {
            case I64 -> data.getAtIndex(LONG, i);
            case I32 -> data.getAtIndex(ValueLayout.JAVA_INT_UNALIGNED, i);
            default -> throw new IllegalStateException(name + " is " + dtype + ", not an integer tensor");
        };
    }

    public float[] toFloatArray() {
        float[] out = new float[Math.toIntExact(elementCount())];
        for (int i = 0; i < out.length; i++) {
            out[i] = getFloat(i);
        }
        return out;
    }

    public long[] toLongArray() {
        long[] out = new long[Math.toIntExact(elementCount())];
        for (int i = 0; i < out.length; i++) {
            out[i] = getLong(i);
        }
        return out;
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }
}
