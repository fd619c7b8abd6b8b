package dev.tandem.core.compute.cpu;

import java.lang.foreign.MemorySegment;

/** Moves activation rows between off-heap buffers and the kernels' heap scratch. */
final class Layouts {
    private Layouts() {
    }

    /** Copies {@code rows} rows of {@code in} contiguously into {@code dst}, bf16-permuted if asked. */
    static void copyRows(CpuActivations in, int rows, float[] dst, boolean permuteForBf16) {
        int n = in.cols;
        for (int t = 0; t < rows; t++) {
            MemorySegment.copy(in.data, CpuActivations.FLOAT, in.at(t, 0), dst, t * n, n);
            if (permuteForBf16) {
                permuteInPlace(dst, t * n, n);
            }
        }
    }

    private static final ThreadLocal<float[]> PERMUTE_SCRATCH = ThreadLocal.withInitial(() -> new float[Bf16.BLOCK]);

    private static void permuteInPlace(float[] a, int offset, int n) {
        float[] block = PERMUTE_SCRATCH.get();
        int full = n - n % Bf16.BLOCK;
        for (int b = 0; b < full; b += Bf16.BLOCK) {
            System.arraycopy(a, offset + b, block, 0, Bf16.BLOCK);
            Bf16.permute(block, 0, a, offset + b, Bf16.BLOCK);
        }
    }
}
