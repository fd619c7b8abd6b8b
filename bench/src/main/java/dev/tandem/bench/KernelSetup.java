package dev.tandem.bench;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.cpu.CpuBackend;

import java.lang.foreign.Arena;

/** What the kernel benchmarks share: the thread count and inputs made through the public API. */
final class KernelSetup {
    private KernelSetup() {
    }

    /** {@code threads}, or one per available processor when 0. */
    static int resolve(int threads) {
        return threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
    }

    static CpuBackend backend(int threads) {
        return new CpuBackend(resolve(threads));
    }

    /**
     * (rows, cols) activations of random values. The backend has no host-to-device copy, so
     * they are embedded from a random bf16 table: row i is table row i.
     */
    static Activations randomRows(CpuBackend backend, Arena arena, int rows, int cols) {
        Activations a = backend.allocate(rows, cols);
        int[] tokens = new int[rows];
        for (int i = 0; i < rows; i++) {
            tokens[i] = i;
        }
        backend.embed(a, backend.weight(Bf16Matrices.random(arena, "x", rows, cols, 1f, 3)), tokens, rows);
        return a;
    }
}
