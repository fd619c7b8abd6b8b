package dev.tandem.cuda.bind;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * cuBLAS through FFM: one handle per backend, bound to its stream, and {@code cublasGemmEx}
 * (column-major, as BLAS is; the backend maps row-major onto it).
 */
public final class Cublas {
    public static final int OP_N = 0;
    public static final int OP_T = 1;
    public static final int CUDA_R_32F = 0;
    public static final int CUDA_R_16BF = 14;
    /** Float32 accumulation; plain float32 operands stay float32 (no TF32) under the default math mode. */
    public static final int COMPUTE_32F = 68;
    public static final int GEMM_DEFAULT = -1;

    private static Cublas instance;

    private final NativeLibrary lib;
    private final MethodHandle cublasCreate;
    private final MethodHandle cublasDestroy;
    private final MethodHandle cublasSetStream;
    private final MethodHandle cublasSetWorkspace;
    private final MethodHandle cublasGemmEx;
    private final MethodHandle cublasGemmBatchedEx;
    private final MethodHandle cublasGemmGroupedBatchedEx; // null if this cuBLAS lacks it (before 12.5)

    private Cublas(NativeLibrary lib) {
        this.lib = lib;
        cublasCreate = lib.function("cublasCreate_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        cublasDestroy = lib.function("cublasDestroy_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        cublasSetStream = lib.function("cublasSetStream_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        cublasSetWorkspace = lib.function("cublasSetWorkspace_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG));
        cublasGemmEx = lib.function("cublasGemmEx", FunctionDescriptor.of(JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT,
                ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
        cublasGemmBatchedEx = lib.function("cublasGemmBatchedEx", FunctionDescriptor.of(JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT,
                ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
        MethodHandle grouped;
        try {
            grouped = lib.function("cublasGemmGroupedBatchedEx", FunctionDescriptor.of(JAVA_INT,
                    ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                    JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS,
                    JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT));
        } catch (CudaUnavailableException old) {
            grouped = null;
        }
        cublasGemmGroupedBatchedEx = grouped;
    }

    public boolean hasGroupedGemm() {
        return cublasGemmGroupedBatchedEx != null;
    }

    /**
     * {@code cublasGemmGroupedBatchedEx}: {@code groups} problems of one matrix each; the host
     * arrays (operations, sizes, leading dimensions, alphas, betas, group sizes) hold one entry
     * per group, {@code a}, {@code b} and {@code c} are device arrays of device pointers.
     * Returns the status rather than throwing, so a caller can probe whether a type mix is supported.
     */
    public int gemmGrouped(MemorySegment handle, MemorySegment transA, MemorySegment transB, MemorySegment m,
                           MemorySegment n, MemorySegment k, MemorySegment alpha, long a, int aType, MemorySegment lda,
                           long b, int bType, MemorySegment ldb, MemorySegment beta, long c, int cType,
                           MemorySegment ldc, int groups, MemorySegment groupSize) {
        try {
            return (int) cublasGemmGroupedBatchedEx.invokeExact(handle, transA, transB, m, n, k, alpha, a, aType, lda, b,
                    bType, ldb, beta, c, cType, ldc, groups, groupSize, COMPUTE_32F);
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /**
     * {@code cublasGemmBatchedEx}: {@code batch} problems of one shape, {@code a}, {@code b} and
     * {@code c} device arrays of device pointers. Returns the status, so that a caller can probe
     * whether a type mix is supported.
     */
    public int gemmBatched(MemorySegment handle, int transA, int transB, int m, int n, int k, MemorySegment alpha,
                           long a, int aType, int lda, long b, int bType, int ldb, MemorySegment beta, long c,
                           int cType, int ldc, int batch) {
        try {
            return (int) cublasGemmBatchedEx.invokeExact(handle, transA, transB, m, n, k, alpha, a, aType, lda, b, bType,
                    ldb, beta, c, cType, ldc, batch, COMPUTE_32F, GEMM_DEFAULT);
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public static synchronized Cublas get() {
        if (instance == null) {
            instance = new Cublas(NativeLibrary.load("cuBLAS", List.of("libcublas.so.13", "libcublas.so.12", "libcublas.so")));
        }
        return instance;
    }

    /** A handle on the current context, issuing on {@code stream}, with {@code workspace} of its own (graph capture needs that). */
    public MemorySegment create(MemorySegment stream, long workspace, long workspaceBytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) cublasCreate.invokeExact(out), "cublasCreate");
            MemorySegment handle = out.get(ADDRESS, 0);
            check((int) cublasSetStream.invokeExact(handle, stream), "cublasSetStream");
            check((int) cublasSetWorkspace.invokeExact(handle, workspace, workspaceBytes), "cublasSetWorkspace");
            return handle;
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public void destroy(MemorySegment handle) {
        try {
            check((int) cublasDestroy.invokeExact(handle), "cublasDestroy");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /**
     * {@code C = alpha · op(A) · op(B) + beta · C}, column-major, {@code m × n} from {@code k};
     * alpha and beta are host floats.
     */
    public void gemm(MemorySegment handle, int transA, int transB, int m, int n, int k, MemorySegment alpha,
                     long a, int aType, int lda, long b, int bType, int ldb, MemorySegment beta,
                     long c, int cType, int ldc) {
        try {
            int rc = (int) cublasGemmEx.invokeExact(handle, transA, transB, m, n, k, alpha, a, aType, lda, b, bType, ldb,
                    beta, c, cType, ldc, COMPUTE_32F, GEMM_DEFAULT);
            if (rc != 0) {
                throw new CudaException("cublasGemmEx(m=" + m + ", n=" + n + ", k=" + k + ", A type " + aType
                        + ") failed: cublasStatus " + rc, rc);
            }
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    private static void check(int rc, String call) {
        if (rc != 0) {
            throw new CudaException(call + " failed: cublasStatus " + rc, rc);
        }
    }

    @Override
    public String toString() {
        return lib.toString();
    }
}
