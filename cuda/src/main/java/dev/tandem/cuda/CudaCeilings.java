package dev.tandem.cuda;

import dev.tandem.cuda.bind.CudaDriver;
import dev.tandem.cuda.bind.Cublas;

import java.lang.foreign.MemorySegment;

/**
 * The two ceilings every GPU figure is set against, measured on the device at hand (METHOD.md):
 * the device-to-device copy bandwidth, counting bytes read plus bytes written, and the rate of
 * a large bf16 GEMM through cuBLAS on random data. Each the median of timed repeats after a
 * warm-up, timed with device events.
 */
public final class CudaCeilings {
    private CudaCeilings() {
    }

    /** Bytes per second, read + write, copying {@code bytes} from one buffer to another. */
    public static double copyBandwidth(CudaBackend backend, long bytes, int repeats) {
        CudaDriver d = backend.driver();
        long src = d.malloc(bytes);
        long dst = d.malloc(bytes);
        try {
            backend.fillRandomBf16(src, bytes / 2, 7);
            double[] ms = time(backend, repeats, () -> d.copyOnDevice(dst, src, bytes, backend.stream()));
            return 2.0 * bytes / (median(ms) / 1e3);
        } finally {
            backend.synchronize();
            d.free(src);
            d.free(dst);
        }
    }

    /** FLOP per second of an {@code n}×{@code n}×{@code n} bf16 GEMM with float32 accumulation. */
    public static double bf16GemmFlops(CudaBackend backend, int n, int repeats) {
        CudaDriver d = backend.driver();
        long elements = (long) n * n;
        long a = d.malloc(2 * elements);
        long b = d.malloc(2 * elements);
        long c = d.malloc(2 * elements);
        try {
            backend.fillRandomBf16(a, elements, 1);
            backend.fillRandomBf16(b, elements, 2);
            Cublas cublas = Cublas.get();
            double[] ms = time(backend, repeats, () -> cublas.gemm(backend.blas(), Cublas.OP_N, Cublas.OP_N, n, n, n,
                    backend.one(), a, Cublas.CUDA_R_16BF, n, b, Cublas.CUDA_R_16BF, n, backend.zeroScalar(), c,
                    Cublas.CUDA_R_16BF, n));
            return 2.0 * n * n * (double) n / (median(ms) / 1e3);
        } finally {
            backend.synchronize();
            d.free(a);
            d.free(b);
            d.free(c);
        }
    }

    /** Milliseconds of each of {@code repeats} runs of {@code work}, after three warm-up runs. */
    static double[] time(CudaBackend backend, int repeats, Runnable work) {
        CudaDriver d = backend.driver();
        MemorySegment stream = backend.stream();
        MemorySegment start = d.createEvent();
        MemorySegment end = d.createEvent();
        try {
            for (int i = 0; i < 3; i++) {
                work.run();
            }
            double[] ms = new double[repeats];
            for (int i = 0; i < repeats; i++) {
                d.record(start, stream);
                work.run();
                d.record(end, stream);
                d.synchronizeEvent(end);
                ms[i] = d.elapsedMillis(start, end);
            }
            return ms;
        } finally {
            d.destroyEvent(start);
            d.destroyEvent(end);
        }
    }

    static double median(double[] values) {
        double[] sorted = values.clone();
        java.util.Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
