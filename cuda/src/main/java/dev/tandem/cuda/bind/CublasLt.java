package dev.tandem.cuda.bind;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;

import static dev.tandem.cuda.bind.Cublas.check;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * cuBLASLt through FFM: what {@code cublasGemmEx} does, with the algorithm in the caller's hands.
 * The heuristic offers several algorithms for a shape and the caller may time them and keep the
 * fastest (torch's cuBLASLt picks ran the expert shapes up to 15 % faster than cublasGemmEx's own).
 * Column-major, as {@link Cublas}.
 */
public final class CublasLt {
    /** {@code sizeof(cublasLtMatmulAlgo_t)}: 8 × uint64. */
    public static final long ALGO_BYTES = 64;
    /** {@code sizeof(cublasLtMatmulHeuristicResult_t)}: the algo, size_t workspaceSize, int state, float waves, int[4]. */
    private static final long RESULT_BYTES = 96;
    private static final long RESULT_WORKSPACE = 64;
    private static final long RESULT_STATE = 72;
    private static final int DESC_TRANSA = 3;
    private static final int DESC_TRANSB = 4;
    private static final int PREF_MAX_WORKSPACE_BYTES = 1;

    private static CublasLt instance;

    private final NativeLibrary lib;
    private final MethodHandle create;
    private final MethodHandle destroy;
    private final MethodHandle descCreate;
    private final MethodHandle descSetAttribute;
    private final MethodHandle descDestroy;
    private final MethodHandle layoutCreate;
    private final MethodHandle layoutDestroy;
    private final MethodHandle preferenceCreate;
    private final MethodHandle preferenceSetAttribute;
    private final MethodHandle preferenceDestroy;
    private final MethodHandle heuristic;
    private final MethodHandle matmul;

    private CublasLt(NativeLibrary lib) {
        this.lib = lib;
        create = lib.function("cublasLtCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        destroy = lib.function("cublasLtDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        descCreate = lib.function("cublasLtMatmulDescCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        descSetAttribute = lib.function("cublasLtMatmulDescSetAttribute",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
        descDestroy = lib.function("cublasLtMatmulDescDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        layoutCreate = lib.function("cublasLtMatrixLayoutCreate",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG));
        layoutDestroy = lib.function("cublasLtMatrixLayoutDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        preferenceCreate = lib.function("cublasLtMatmulPreferenceCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        preferenceSetAttribute = lib.function("cublasLtMatmulPreferenceSetAttribute",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
        preferenceDestroy = lib.function("cublasLtMatmulPreferenceDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        heuristic = lib.function("cublasLtMatmulAlgoGetHeuristic", FunctionDescriptor.of(JAVA_INT,
                ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
        matmul = lib.function("cublasLtMatmul", FunctionDescriptor.of(JAVA_INT,
                ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS,
                JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS));
    }

    public static synchronized CublasLt get() {
        if (instance == null) {
            instance = new CublasLt(NativeLibrary.load("cuBLASLt",
                    List.of("libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so")));
        }
        return instance;
    }

    public MemorySegment create() {
        return out((o) -> (int) create.invokeExact(o), "cublasLtCreate");
    }

    public void destroy(MemorySegment handle) {
        try {
            check((int) destroy.invokeExact(handle), "cublasLtDestroy");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /** A matmul descriptor: float32 compute and scale, the two operations. */
    public MemorySegment matmulDesc(int transA, int transB) {
        MemorySegment desc = out((o) -> (int) descCreate.invokeExact(o, Cublas.COMPUTE_32F, Cublas.CUDA_R_32F),
                "cublasLtMatmulDescCreate");
        try (Arena arena = Arena.ofConfined()) {
            check((int) descSetAttribute.invokeExact(desc, DESC_TRANSA, arena.allocateFrom(JAVA_INT, transA), 4L),
                    "cublasLtMatmulDescSetAttribute(TRANSA)");
            check((int) descSetAttribute.invokeExact(desc, DESC_TRANSB, arena.allocateFrom(JAVA_INT, transB), 4L),
                    "cublasLtMatmulDescSetAttribute(TRANSB)");
            return desc;
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public void destroyMatmulDesc(MemorySegment desc) {
        try {
            check((int) descDestroy.invokeExact(desc), "cublasLtMatmulDescDestroy");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /** A column-major {@code rows × cols} layout of {@code type} with leading dimension {@code ld}. */
    public MemorySegment layout(int type, long rows, long cols, long ld) {
        return out((o) -> (int) layoutCreate.invokeExact(o, type, rows, cols, ld), "cublasLtMatrixLayoutCreate");
    }

    public void destroyLayout(MemorySegment layout) {
        try {
            check((int) layoutDestroy.invokeExact(layout), "cublasLtMatrixLayoutDestroy");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /**
     * Up to {@code wanted} algorithms for the problem, best guess first, that need no more than
     * {@code workspaceBytes}; each is copied into {@code algos} ({@link #ALGO_BYTES} apart).
     * Returns how many were found.
     */
    public int heuristic(MemorySegment handle, MemorySegment desc, MemorySegment a, MemorySegment b, MemorySegment c,
                         long workspaceBytes, int wanted, MemorySegment algos) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment preference = out((o) -> (int) preferenceCreate.invokeExact(o), "cublasLtMatmulPreferenceCreate");
            try {
                check((int) preferenceSetAttribute.invokeExact(preference, PREF_MAX_WORKSPACE_BYTES,
                        arena.allocateFrom(JAVA_LONG, workspaceBytes), 8L), "cublasLtMatmulPreferenceSetAttribute");
                MemorySegment results = arena.allocate(RESULT_BYTES * wanted, 8);
                MemorySegment found = arena.allocate(JAVA_INT);
                check((int) heuristic.invokeExact(handle, desc, a, b, c, c, preference, wanted, results, found),
                        "cublasLtMatmulAlgoGetHeuristic");
                int usable = 0;
                for (int i = 0; i < found.get(JAVA_INT, 0); i++) {
                    long at = i * RESULT_BYTES;
                    if (results.get(JAVA_INT, at + RESULT_STATE) == 0
                            && results.get(JAVA_LONG, at + RESULT_WORKSPACE) <= workspaceBytes) {
                        algos.asSlice(usable++ * ALGO_BYTES, ALGO_BYTES).copyFrom(results.asSlice(at, ALGO_BYTES));
                    }
                }
                return usable;
            } finally {
                check((int) preferenceDestroy.invokeExact(preference), "cublasLtMatmulPreferenceDestroy");
            }
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /**
     * {@code D = alpha · op(A) · op(B) + beta · D} (C and D the same matrix) with {@code algo},
     * on {@code stream}; alpha and beta are host floats. Returns the status.
     */
    public int matmul(MemorySegment handle, MemorySegment desc, MemorySegment alpha, long a, MemorySegment aLayout,
                      long b, MemorySegment bLayout, MemorySegment beta, long d, MemorySegment dLayout,
                      MemorySegment algo, long workspace, long workspaceBytes, MemorySegment stream) {
        try {
            return (int) matmul.invokeExact(handle, desc, alpha, a, aLayout, b, bLayout, beta, d, dLayout, d, dLayout,
                    algo, workspace, workspaceBytes, stream);
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    private interface Creator {
        int call(MemorySegment out) throws Throwable;
    }

    private static MemorySegment out(Creator creator, String call) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check(creator.call(out), call);
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    @Override
    public String toString() {
        return lib.toString();
    }
}
