package dev.tandem.bench;

import dev.tandem.core.checkpoint.DType;
import dev.tandem.core.checkpoint.TensorView;
import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.cpu.CpuBackend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Checks a prototype's output against the core backend on the same weights, before timing it. */
final class PrototypeCheck {
    private static final double TOLERANCE = 1e-4; // relative L2; fp32 sums in a different order

    private PrototypeCheck() {
    }

    /** {@code w · x} ({@code transposed}: {@code x · w}) through {@link CpuBackend}, compared with {@code actual}. */
    static void againstBackend(TensorView w, float[] x, boolean transposed, float[] actual) {
        try (Arena arena = Arena.ofConfined(); CpuBackend backend = new CpuBackend(1)) {
            // x as a (1, n) f32 table, embedded: the backend's only way in from the host.
            MemorySegment table = arena.allocate((long) x.length * Float.BYTES, 64);
            MemorySegment.copy(x, 0, table, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, x.length);
            Activations in = backend.allocate(1, x.length);
            backend.embed(in, backend.weight(new TensorView("x", "(host)", DType.F32, new long[] {1, x.length}, table)),
                    new int[] {0}, 1);
            Activations out = backend.allocate(1, actual.length);
            if (transposed) {
                backend.matmulTransposed(out, in, backend.weight(w), 1);
            } else {
                backend.matmul(out, in, backend.weight(w), 1);
            }
            float[] expected = new float[actual.length];
            backend.copyToHost(out, 1, expected);
            double num = 0, den = 0;
            for (int i = 0; i < expected.length; i++) {
                double diff = actual[i] - expected[i];
                num += diff * diff;
                den += (double) expected[i] * expected[i];
            }
            double error = Math.sqrt(num / den);
            if (!(error < TOLERANCE)) {
                throw new IllegalStateException("prototype differs from the backend: relative L2 " + error);
            }
        }
    }
}
