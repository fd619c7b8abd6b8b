package dev.tandem.bench;

import dev.tandem.core.compute.cpu.KernelPool;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A prototype of the batch-1 transposed projection {@code out = x · w}, w (f, d) bf16 row-major,
 * that streams w in order: each task takes a block of whole rows (contiguous bytes) and adds
 * {@code x[r] · w[r, :]} into its own partial sum of all d outputs, four rows per pass so that
 * the partial sums are loaded and stored once per four weight vectors. The caller then adds the
 * partial sums in task order, so the result does not depend on scheduling. The core kernel
 * instead walks 64-column strips down all f rows: 128 bytes from each 8 KB row, a new page
 * every access, which defeats the hardware prefetcher.
 */
final class TransposedMatvecPrototype implements KernelPool.Task {
    private static final int ROWS_PER_TASK = 256; // 2 MB of weights at d = 4096
    private static final int ROWS_PER_PASS = 4;
    private static final int BLOCK = MatvecPrototype.BLOCK;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private final MemorySegment w; // (f, d) bf16
    private final int f;
    private final int d;
    private final float[] x;       // (f)
    private final float[][] partial; // (task) (d), bf16-permuted order
    private final float[] out;     // (d)

    TransposedMatvecPrototype(MemorySegment w, int f, int d, float[] x) {
        if (f % ROWS_PER_PASS != 0 || d % BLOCK != 0) {
            throw new IllegalArgumentException("prototype needs f % 4 == 0 and d % " + BLOCK + " == 0");
        }
        this.w = w;
        this.f = f;
        this.d = d;
        this.x = x.clone();
        this.partial = new float[(f + ROWS_PER_TASK - 1) / ROWS_PER_TASK][d];
        this.out = new float[d];
    }

    void run(KernelPool pool) {
        pool.run(partial.length, this);
        float[] sum = partial[0].clone();
        for (int t = 1; t < partial.length; t++) {
            float[] p = partial[t];
            for (int i = 0; i < d; i += MatvecPrototype.F.length()) {
                FloatVector.fromArray(MatvecPrototype.F, sum, i).add(FloatVector.fromArray(MatvecPrototype.F, p, i))
                        .intoArray(sum, i);
            }
        }
        int half = BLOCK / 2;
        for (int b = 0; b < d; b += BLOCK) { // undo the evens-then-odds order of each block
            for (int i = 0; i < half; i++) {
                out[b + 2 * i] = sum[b + i];
                out[b + 2 * i + 1] = sum[b + half + i];
            }
        }
    }

    float[] out() {
        return out;
    }

    @Override
    public void run(int task, int worker) {
        float[] acc = partial[task];
        Arrays.fill(acc, 0f);
        int first = task * ROWS_PER_TASK;
        int last = Math.min(first + ROWS_PER_TASK, f);
        long rowBytes = 2L * d;
        int half = BLOCK / 2;
        for (int r = first; r < last; r += ROWS_PER_PASS) {
            FloatVector s0 = FloatVector.broadcast(MatvecPrototype.F, x[r]);
            FloatVector s1 = FloatVector.broadcast(MatvecPrototype.F, x[r + 1]);
            FloatVector s2 = FloatVector.broadcast(MatvecPrototype.F, x[r + 2]);
            FloatVector s3 = FloatVector.broadcast(MatvecPrototype.F, x[r + 3]);
            long base = r * rowBytes;
            for (int c = 0; c < d; c += BLOCK) {
                long at = base + 2L * c;
                IntVector p0 = IntVector.fromMemorySegment(MatvecPrototype.I, w, at, LE);
                IntVector p1 = IntVector.fromMemorySegment(MatvecPrototype.I, w, at + rowBytes, LE);
                IntVector p2 = IntVector.fromMemorySegment(MatvecPrototype.I, w, at + 2 * rowBytes, LE);
                IntVector p3 = IntVector.fromMemorySegment(MatvecPrototype.I, w, at + 3 * rowBytes, LE);
                FloatVector even = FloatVector.fromArray(MatvecPrototype.F, acc, c);
                FloatVector odd = FloatVector.fromArray(MatvecPrototype.F, acc, c + half);
                even = evens(p0).fma(s0, even);
                odd = odds(p0).fma(s0, odd);
                even = evens(p1).fma(s1, even);
                odd = odds(p1).fma(s1, odd);
                even = evens(p2).fma(s2, even);
                odd = odds(p2).fma(s2, odd);
                even = evens(p3).fma(s3, even);
                odd = odds(p3).fma(s3, odd);
                even.intoArray(acc, c);
                odd.intoArray(acc, c + half);
            }
        }
    }

    private static FloatVector evens(IntVector packed) {
        return packed.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    private static FloatVector odds(IntVector packed) {
        return packed.and(0xFFFF0000).reinterpretAsFloats();
    }
}
