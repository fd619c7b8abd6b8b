package dev.tandem.bench;

import dev.tandem.core.compute.cpu.KernelPool;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Prototypes of the batch-1 projection {@code out = w · x}, to find what keeps the core kernel
 * from the memory bound; not used by Tandem. Each variant runs on a {@link KernelPool} in tasks of
 * 16 weight rows, as the core kernel does, so that only the inner loop differs.
 */
final class MatvecPrototype implements KernelPool.Task {
    enum Variant {
        /** The core kernel's loop: bf16 widened by shift/mask, two accumulators (one FMA chain per half). */
        BF16_2ACC,
        /** The same with two blocks per iteration and four accumulators, breaking the FMA latency chain. */
        BF16_4ACC,
        /** Four blocks per iteration, eight accumulators: is more unrolling worth it. */
        BF16_8ACC,
        /**
         * Four weight rows at once, two accumulators each: every activation vector loaded serves four
         * rows, and each core has four weight streams in flight instead of one.
         */
        BF16_4ROWS,
        /** fp32 weights (half as many per byte), four accumulators: the ceiling without any widening. */
        FP32_4ACC
    }

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    static final int BLOCK = 2 * F.length(); // bf16 weights per int vector
    private static final int ROWS_PER_TASK = 16;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private final Variant variant;
    private final MemorySegment w;  // (rows, cols) bf16, or fp32 for FP32_4ACC
    private final int rows;
    private final int cols;
    private final float[] x;        // (cols), bf16-permuted (evens then odds per block) for the bf16 variants
    private final float[] out;      // (rows)

    MatvecPrototype(Variant variant, MemorySegment w, int rows, int cols, float[] x) {
        this.variant = variant;
        this.w = w;
        this.rows = rows;
        this.cols = cols;
        this.x = variant == Variant.FP32_4ACC ? x.clone() : permuted(x);
        this.out = new float[rows];
    }

    void run(KernelPool pool) {
        pool.run((rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK, this);
    }

    float[] out() {
        return out;
    }

    @Override
    public void run(int task, int worker) {
        int last = Math.min((task + 1) * ROWS_PER_TASK, rows);
        if (variant == Variant.BF16_4ROWS) {
            for (int n = task * ROWS_PER_TASK; n < last; n += 4) { // rows % 4 == 0 here
                bf16FourRows(n);
            }
            return;
        }
        for (int n = task * ROWS_PER_TASK; n < last; n++) {
            out[n] = switch (variant) {
                case BF16_2ACC -> bf16TwoAccumulators(n);
                case BF16_4ACC -> bf16FourAccumulators(n);
                case BF16_8ACC -> bf16EightAccumulators(n);
                case FP32_4ACC -> fp32FourAccumulators(n);
                case BF16_4ROWS -> throw new AssertionError();
            };
        }
    }

    private float bf16TwoAccumulators(int n) {
        long base = (long) n * cols * 2;
        int half = BLOCK / 2;
        FloatVector even = FloatVector.zero(F), odd = even;
        for (int i = 0; i < cols; i += BLOCK) {
            IntVector packed = IntVector.fromMemorySegment(I, w, base + 2L * i, LE);
            even = evens(packed).fma(FloatVector.fromArray(F, x, i), even);
            odd = odds(packed).fma(FloatVector.fromArray(F, x, i + half), odd);
        }
        return even.add(odd).reduceLanes(VectorOperators.ADD);
    }

    private float bf16FourAccumulators(int n) {
        long base = (long) n * cols * 2;
        int half = BLOCK / 2;
        FloatVector e0 = FloatVector.zero(F), o0 = e0, e1 = e0, o1 = e0;
        for (int i = 0; i < cols; i += 2 * BLOCK) {
            IntVector p0 = IntVector.fromMemorySegment(I, w, base + 2L * i, LE);
            IntVector p1 = IntVector.fromMemorySegment(I, w, base + 2L * (i + BLOCK), LE);
            e0 = evens(p0).fma(FloatVector.fromArray(F, x, i), e0);
            o0 = odds(p0).fma(FloatVector.fromArray(F, x, i + half), o0);
            e1 = evens(p1).fma(FloatVector.fromArray(F, x, i + BLOCK), e1);
            o1 = odds(p1).fma(FloatVector.fromArray(F, x, i + BLOCK + half), o1);
        }
        return e0.add(o0).add(e1.add(o1)).reduceLanes(VectorOperators.ADD);
    }

    private float bf16EightAccumulators(int n) {
        long base = (long) n * cols * 2;
        int half = BLOCK / 2;
        FloatVector e0 = FloatVector.zero(F), o0 = e0, e1 = e0, o1 = e0, e2 = e0, o2 = e0, e3 = e0, o3 = e0;
        for (int i = 0; i < cols; i += 4 * BLOCK) {
            IntVector p0 = IntVector.fromMemorySegment(I, w, base + 2L * i, LE);
            IntVector p1 = IntVector.fromMemorySegment(I, w, base + 2L * (i + BLOCK), LE);
            IntVector p2 = IntVector.fromMemorySegment(I, w, base + 2L * (i + 2 * BLOCK), LE);
            IntVector p3 = IntVector.fromMemorySegment(I, w, base + 2L * (i + 3 * BLOCK), LE);
            e0 = evens(p0).fma(FloatVector.fromArray(F, x, i), e0);
            o0 = odds(p0).fma(FloatVector.fromArray(F, x, i + half), o0);
            e1 = evens(p1).fma(FloatVector.fromArray(F, x, i + BLOCK), e1);
            o1 = odds(p1).fma(FloatVector.fromArray(F, x, i + BLOCK + half), o1);
            e2 = evens(p2).fma(FloatVector.fromArray(F, x, i + 2 * BLOCK), e2);
            o2 = odds(p2).fma(FloatVector.fromArray(F, x, i + 2 * BLOCK + half), o2);
            e3 = evens(p3).fma(FloatVector.fromArray(F, x, i + 3 * BLOCK), e3);
            o3 = odds(p3).fma(FloatVector.fromArray(F, x, i + 3 * BLOCK + half), o3);
        }
        return e0.add(o0).add(e1.add(o1)).add(e2.add(o2).add(e3.add(o3))).reduceLanes(VectorOperators.ADD);
    }

    private void bf16FourRows(int n) {
        long rowBytes = (long) cols * 2;
        long b0 = n * rowBytes, b1 = b0 + rowBytes, b2 = b1 + rowBytes, b3 = b2 + rowBytes;
        int half = BLOCK / 2;
        FloatVector e0 = FloatVector.zero(F), o0 = e0, e1 = e0, o1 = e0, e2 = e0, o2 = e0, e3 = e0, o3 = e0;
        for (int i = 0; i < cols; i += BLOCK) {
            FloatVector xe = FloatVector.fromArray(F, x, i);
            FloatVector xo = FloatVector.fromArray(F, x, i + half);
            IntVector p0 = IntVector.fromMemorySegment(I, w, b0 + 2L * i, LE);
            IntVector p1 = IntVector.fromMemorySegment(I, w, b1 + 2L * i, LE);
            IntVector p2 = IntVector.fromMemorySegment(I, w, b2 + 2L * i, LE);
            IntVector p3 = IntVector.fromMemorySegment(I, w, b3 + 2L * i, LE);
            e0 = evens(p0).fma(xe, e0);
            o0 = odds(p0).fma(xo, o0);
            e1 = evens(p1).fma(xe, e1);
            o1 = odds(p1).fma(xo, o1);
            e2 = evens(p2).fma(xe, e2);
            o2 = odds(p2).fma(xo, o2);
            e3 = evens(p3).fma(xe, e3);
            o3 = odds(p3).fma(xo, o3);
        }
        out[n] = e0.add(o0).reduceLanes(VectorOperators.ADD);
        out[n + 1] = e1.add(o1).reduceLanes(VectorOperators.ADD);
        out[n + 2] = e2.add(o2).reduceLanes(VectorOperators.ADD);
        out[n + 3] = e3.add(o3).reduceLanes(VectorOperators.ADD);
    }

    private float fp32FourAccumulators(int n) {
        long base = (long) n * cols * 4;
        int step = F.length();
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < cols; i += 4 * step) {
            a0 = FloatVector.fromMemorySegment(F, w, base + 4L * i, LE).fma(FloatVector.fromArray(F, x, i), a0);
            a1 = FloatVector.fromMemorySegment(F, w, base + 4L * (i + step), LE).fma(FloatVector.fromArray(F, x, i + step), a1);
            a2 = FloatVector.fromMemorySegment(F, w, base + 4L * (i + 2 * step), LE).fma(FloatVector.fromArray(F, x, i + 2 * step), a2);
            a3 = FloatVector.fromMemorySegment(F, w, base + 4L * (i + 3 * step), LE).fma(FloatVector.fromArray(F, x, i + 3 * step), a3);
        }
        return a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
    }

    private static FloatVector evens(IntVector packed) {
        return packed.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    private static FloatVector odds(IntVector packed) {
        return packed.and(0xFFFF0000).reinterpretAsFloats();
    }

    /** Each block of {@link #BLOCK} floats reordered as its evens then its odds; cols % BLOCK == 0. */
    static float[] permuted(float[] x) {
        float[] p = new float[x.length];
        int half = BLOCK / 2;
        for (int b = 0; b < x.length; b += BLOCK) {
            for (int i = 0; i < half; i++) {
                p[b + i] = x[b + 2 * i];
                p[b + half + i] = x[b + 2 * i + 1];
            }
        }
        return p;
    }
}
