package dev.tandem.cuda;

import dev.tandem.cuda.bind.CudaDriver;
import dev.tandem.cuda.bind.Cublas;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * What the backend puts on its stream during a forward step, in one place, so that a decode step
 * can run as a CUDA graph ({@link StepGraphs}). In {@link Mode#LIVE} each call goes straight to the
 * driver or cuBLAS. In {@link Mode#CHECK} nothing is enqueued: each call appends what it would
 * enqueue (kernel, grid, argument values, copy addresses and sizes) to a trace, and two steps with
 * equal traces are the same graph with new data in the argument area. In {@link Mode#CAPTURE} calls
 * are enqueued under stream capture and traced; the argument uploads are left to the one copy that
 * the capture starts with. Anything that cannot be part of a graph (a wait for the device, an
 * allocation) calls {@link #notInGraph}, which abandons the step's graph.
 */
final class StreamOps {
    enum Mode { LIVE, CHECK, CAPTURE }

    /** Thrown into a traced step that does something a graph cannot hold; the step then runs live. */
    static final class NotGraphable extends RuntimeException {
        private NotGraphable() {
            super("not graphable", null, false, false);
        }
    }

    private static final NotGraphable NOT_GRAPHABLE = new NotGraphable();
    private static final long LAUNCH = 1, UPLOAD = 2, COPY_TO_HOST = 3, GEMM = 4, GEMM_BATCHED = 5, COPY = 6;

    private final CudaDriver driver;
    private final Cublas cublas;
    private final MemorySegment stream;
    private final KernelArgs args;
    private Mode mode = Mode.LIVE;
    private long[] trace = new long[1 << 14];
    private int traced;

    StreamOps(CudaDriver driver, Cublas cublas, MemorySegment stream, KernelArgs args) {
        this.driver = driver;
        this.cublas = cublas;
        this.stream = stream;
        this.args = args;
    }

    void begin(Mode m) {
        mode = m;
        traced = 0;
    }

    void end() {
        mode = Mode.LIVE;
    }

    boolean live() {
        return mode == Mode.LIVE;
    }

    void notInGraph() {
        if (mode != Mode.LIVE) {
            throw NOT_GRAPHABLE;
        }
    }

    boolean traceEquals(long[] other) {
        return Arrays.equals(trace, 0, traced, other, 0, other.length);
    }

    long[] traceCopy() {
        return Arrays.copyOf(trace, traced);
    }

    /** {@code kernel} with the arguments {@link KernelArgs} holds now. */
    void launch(MemorySegment kernel, int gridX, int gridY, int gridZ, int block, int sharedBytes, String name) {
        if (mode != Mode.LIVE) {
            int n = args.count();
            ensure(7 + n);
            put(LAUNCH);
            put(kernel.address());
            put(gridX);
            put(gridY);
            put(gridZ);
            put(block);
            put(((long) sharedBytes << 32) | n);
            for (int i = 0; i < n; i++) {
                put(args.value(i));
            }
            if (mode == Mode.CHECK) {
                return;
            }
        }
        driver.launch(kernel, gridX, gridY, gridZ, block, sharedBytes, stream, args.pointers, name);
    }

    /** An upload from the argument area ({@link HostArgs}); under capture the step's first copy made it. */
    void upload(long dst, MemorySegment src, long bytes) {
        if (mode != Mode.LIVE) {
            ensure(4);
            put(UPLOAD);
            put(dst);
            put(src.address());
            put(bytes);
            return;
        }
        driver.copyToDevice(dst, src, bytes, stream);
    }

    void copyToHost(MemorySegment dst, long src, long bytes) {
        if (mode != Mode.LIVE) {
            ensure(4);
            put(COPY_TO_HOST);
            put(dst.address());
            put(src);
            put(bytes);
            if (mode == Mode.CHECK) {
                return;
            }
        }
        driver.copyToHost(dst, src, bytes, stream);
    }

    /** A DMA between unified addresses (either side may be registered host memory). */
    void copy(long dst, long src, long bytes) {
        if (mode != Mode.LIVE) {
            ensure(4);
            put(COPY);
            put(dst);
            put(src);
            put(bytes);
            if (mode == Mode.CHECK) {
                return;
            }
        }
        driver.copy(dst, src, bytes, stream);
    }

    /** {@link Cublas#gemm} on the backend's handle. */
    void gemm(MemorySegment handle, int transA, int transB, int m, int n, int k, MemorySegment alpha,
              long a, int aType, int lda, long b, int bType, int ldb, MemorySegment beta, long c, int cType, int ldc) {
        if (mode != Mode.LIVE) {
            traceGemm(GEMM, handle, transA, transB, m, n, k, alpha, a, aType, lda, b, bType, ldb, beta, c, cType, ldc, 1);
            if (mode == Mode.CHECK) {
                return;
            }
        }
        cublas.gemm(handle, transA, transB, m, n, k, alpha, a, aType, lda, b, bType, ldb, beta, c, cType, ldc);
    }

    /** {@link Cublas#gemmBatched}: its status (0 when only traced). */
    int gemmBatched(MemorySegment handle, int transA, int transB, int m, int n, int k, MemorySegment alpha,
                    long a, int aType, int lda, long b, int bType, int ldb, MemorySegment beta, long c, int cType,
                    int ldc, int batch) {
        if (mode != Mode.LIVE) {
            traceGemm(GEMM_BATCHED, handle, transA, transB, m, n, k, alpha, a, aType, lda, b, bType, ldb, beta, c,
                    cType, ldc, batch);
            if (mode == Mode.CHECK) {
                return 0;
            }
        }
        return cublas.gemmBatched(handle, transA, transB, m, n, k, alpha, a, aType, lda, b, bType, ldb, beta, c,
                cType, ldc, batch);
    }

    private void traceGemm(long tag, MemorySegment handle, int transA, int transB, int m, int n, int k,
                           MemorySegment alpha, long a, int aType, int lda, long b, int bType, int ldb,
                           MemorySegment beta, long c, int cType, int ldc, int batch) {
        ensure(13);
        put(tag);
        put(handle.address());
        put(((long) transA << 32) | transB);
        put(((long) m << 32) | n);
        put(((long) k << 32) | batch);
        put(alpha.address());
        put(beta.address());
        put(a);
        put(((long) aType << 32) | lda);
        put(b);
        put(((long) bType << 32) | ldb);
        put(c);
        put(((long) cType << 32) | ldc);
    }

    private void ensure(int more) {
        if (traced + more > trace.length) {
            trace = Arrays.copyOf(trace, Math.max(traced + more, 2 * trace.length));
        }
    }

    private void put(long v) {
        trace[traced++] = v;
    }
}
