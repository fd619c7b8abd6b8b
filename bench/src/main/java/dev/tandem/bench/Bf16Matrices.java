package dev.tandem.bench;

import dev.tandem.core.checkpoint.DType;
import dev.tandem.core.checkpoint.TensorView;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

/** Random bf16 tensors off-heap, shaped like checkpoint tensors, for the kernel benchmarks. */
final class Bf16Matrices {
    /** Mixtral-8x7B expert w1/w3: (ffn, hidden); w2 of DBRX's transposed layout has the same bytes. */
    static final int EXPERT_ROWS = 14336;
    static final int EXPERT_COLS = 4096;

    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Bf16Matrices() {
    }

    /**
     * A (rows, cols) bf16 tensor of values uniform in ±scale, every page touched, so that a
     * benchmark measures memory and not page faults.
     */
    static TensorView random(Arena arena, String name, int rows, int cols, float scale, long seed) {
        MemorySegment data = arena.allocate((long) rows * cols * Short.BYTES, 64);
        SplittableRandom random = new SplittableRandom(seed);
        long n = (long) rows * cols;
        for (long i = 0; i < n; i++) {
            float value = (random.nextFloat() * 2f - 1f) * scale;
            data.setAtIndex(SHORT, i, (short) (Float.floatToRawIntBits(value) >>> 16));
        }
        return new TensorView(name, "(off-heap)", DType.BF16, new long[] {rows, cols}, data);
    }
}
