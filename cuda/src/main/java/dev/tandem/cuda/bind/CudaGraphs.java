package dev.tandem.cuda.bind;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * CUDA graphs through the driver API: capture what a stream is given into a graph, instantiate
 * it, update an instantiated graph from a newer capture of the same shape, and launch it.
 */
public final class CudaGraphs {
    /** Only this thread's unsafe calls (a synchronize, an allocation) break a capture. */
    public static final int CAPTURE_MODE_THREAD_LOCAL = 1;

    private final CudaDriver driver;
    private final MethodHandle cuStreamBeginCapture;
    private final MethodHandle cuStreamEndCapture;
    private final MethodHandle cuGraphInstantiateWithFlags;
    private final MethodHandle cuGraphExecUpdate;
    private final MethodHandle cuGraphLaunch;
    private final MethodHandle cuGraphDestroy;
    private final MethodHandle cuGraphExecDestroy;

    public CudaGraphs(CudaDriver driver) {
        this.driver = driver;
        NativeLibrary lib = driver.library();
        cuStreamBeginCapture = lib.function("cuStreamBeginCapture_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        cuStreamEndCapture = lib.function("cuStreamEndCapture", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        cuGraphInstantiateWithFlags = lib.function("cuGraphInstantiateWithFlags",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
        cuGraphExecUpdate = lib.function("cuGraphExecUpdate_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
        cuGraphLaunch = lib.function("cuGraphLaunch", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        cuGraphDestroy = lib.function("cuGraphDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        cuGraphExecDestroy = lib.function("cuGraphExecDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    public void beginCapture(MemorySegment stream) {
        try {
            check((int) cuStreamBeginCapture.invokeExact(stream, CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /** The captured graph, or {@link MemorySegment#NULL} when the capture was invalidated (it still ends). */
    public MemorySegment endCapture(MemorySegment stream) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            int rc = (int) cuStreamEndCapture.invokeExact(stream, out);
            return rc == 0 ? out.get(ADDRESS, 0) : MemorySegment.NULL;
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public MemorySegment instantiate(MemorySegment graph) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) cuGraphInstantiateWithFlags.invokeExact(out, graph, 0L), "cuGraphInstantiateWithFlags");
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /** Whether {@code exec} now runs {@code graph}: false when their topologies differ (then instantiate anew). */
    public boolean update(MemorySegment exec, MemorySegment graph) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = arena.allocate(24, 8); // CUgraphExecUpdateResultInfo: result, errorNode, errorFromNode
            return (int) cuGraphExecUpdate.invokeExact(exec, graph, info) == 0;
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public void launch(MemorySegment exec, MemorySegment stream) {
        try {
            check((int) cuGraphLaunch.invokeExact(exec, stream), "cuGraphLaunch");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public void destroyGraph(MemorySegment graph) {
        try {
            check((int) cuGraphDestroy.invokeExact(graph), "cuGraphDestroy");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public void destroyExec(MemorySegment exec) {
        try {
            check((int) cuGraphExecDestroy.invokeExact(exec), "cuGraphExecDestroy");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    private void check(int rc, String call) {
        if (rc != 0) {
            throw new CudaException(call + " failed: " + driver.errorName(rc), rc);
        }
    }
}
