package dev.tandem.core.compute.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * bf16 widened in registers. A bf16 is the top half of a float32, so one int lane holding two
 * little-endian bf16 values yields the even element by a left shift of 16 and the odd one by
 * masking the low half: no lookup, no conversion instruction. A block of {@link #BLOCK} weights
 * thus becomes two float vectors, evens and odds, and the activations they meet are stored in the
 * same order ({@link #permute}) once per call instead of once per weight row.
 */
final class Bf16 {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    /** Weights per block: two float vectors' worth. */
    static final int BLOCK = 2 * F.length();
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final int HIGH_HALF = 0xFFFF0000;

    private Bf16() {
    }

    /** The block of {@link #BLOCK} bf16 at {@code byteOffset}, even elements. */
    static FloatVector evens(IntVector packed) {
        return packed.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    static FloatVector odds(IntVector packed) {
        return packed.and(HIGH_HALF).reinterpretAsFloats();
    }

    static IntVector load(MemorySegment weights, long byteOffset) {
        return IntVector.fromMemorySegment(I, weights, byteOffset, LE);
    }

    /**
     * Copies {@code n} floats from {@code src} into {@code dst} with each full block reordered as
     * evens then odds; the tail past the last full block stays in natural order.
     */
    static void permute(float[] src, int srcOffset, float[] dst, int dstOffset, int n) {
        int full = n - n % BLOCK;
        int half = BLOCK / 2;
        for (int b = 0; b < full; b += BLOCK) {
            for (int i = 0; i < half; i++) {
                dst[dstOffset + b + i] = src[srcOffset + b + 2 * i];
                dst[dstOffset + b + half + i] = src[srcOffset + b + 2 * i + 1];
            }
        }
        System.arraycopy(src, srcOffset + full, dst, dstOffset + full, n - full);
    }

    /** The inverse of {@link #permute}. */
    static void unpermute(float[] src, int srcOffset, float[] dst, int dstOffset, int n) {
        int full = n - n % BLOCK;
        int half = BLOCK / 2;
        for (int b = 0; b < full; b += BLOCK) {
            for (int i = 0; i < half; i++) {
                dst[dstOffset + b + 2 * i] = src[srcOffset + b + i];
                dst[dstOffset + b + 2 * i + 1] = src[srcOffset + b + half + i];
            }
        }
        System.arraycopy(src, srcOffset + full, dst, dstOffset + full, n - full);
    }

    static float toFloat(short bits) {
        return Float.intBitsToFloat(bits << 16);
    }
}
