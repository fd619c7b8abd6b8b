package dev.tandem.cuda.bind;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The CUDA driver API ({@code libcuda.so.1}) through FFM downcalls: the calls Tandem makes, each
 * checked, an error thrown as {@link CudaException} naming the call. Device pointers are
 * {@code long}; contexts, streams, modules, functions and events are addresses.
 * Hot-path calls (launches, async copies) take no out-parameters and allocate nothing.
 */
public final class CudaDriver {
    public static final int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
    public static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
    public static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
    public static final int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
    public static final int CU_STREAM_NON_BLOCKING = 1;
    public static final int CU_MEMHOSTREGISTER_PORTABLE_DEVICEMAP = 0x01 | 0x02;
    public static final int CU_MEMHOSTREGISTER_PORTABLE = 0x01;
    public static final int CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED = 712;
    public static final int CU_MEMORYTYPE_HOST = 1;
    public static final int CU_MEMORYTYPE_DEVICE = 2;
    /** {@code sizeof(CUDA_MEMCPY2D)}: see {@link #copy2D}. */
    public static final long MEMCPY2D_BYTES = 128;
    public static final int CUDA_ERROR_OUT_OF_MEMORY = 2;
    public static final int CUDA_ERROR_NO_DEVICE = 100;

    private static CudaDriver instance;
    private static CudaUnavailableException failure;

    private final NativeLibrary lib;
    private final MethodHandle cuInit;
    private final MethodHandle cuGetErrorName;
    private final MethodHandle cuDeviceGetCount;
    private final MethodHandle cuDeviceGet;
    private final MethodHandle cuDeviceGetName;
    private final MethodHandle cuDeviceGetAttribute;
    private final MethodHandle cuDevicePrimaryCtxRetain;
    private final MethodHandle cuDevicePrimaryCtxRelease;
    private final MethodHandle cuCtxSetCurrent;
    private final MethodHandle cuMemGetInfo;
    private final MethodHandle cuMemAlloc;
    private final MethodHandle cuMemFree;
    private final MethodHandle cuMemHostAlloc;
    private final MethodHandle cuMemFreeHost;
    private final MethodHandle cuMemHostRegister;
    private final MethodHandle cuMemHostUnregister;
    private final MethodHandle cuMemHostGetDevicePointer;
    private final MethodHandle cuMemcpyHtoDAsync;
    private final MethodHandle cuMemcpyDtoHAsync;
    private final MethodHandle cuMemcpyDtoDAsync;
    private final MethodHandle cuMemcpyAsync;
    private final MethodHandle cuMemcpy2DAsync;
    private final MethodHandle cuMemsetD32Async;
    private final MethodHandle cuStreamCreate;
    private final MethodHandle cuStreamSynchronize;
    private final MethodHandle cuStreamDestroy;
    private final MethodHandle cuModuleLoadData;
    private final MethodHandle cuModuleGetFunction;
    private final MethodHandle cuFuncSetAttribute;
    private final MethodHandle cuLaunchKernel;
    private final MethodHandle cuEventCreate;
    private final MethodHandle cuEventRecord;
    private final MethodHandle cuEventSynchronize;
    private final MethodHandle cuEventElapsedTime;
    private final MethodHandle cuEventDestroy;
    private final MethodHandle cuStreamWaitEvent;

    private CudaDriver(NativeLibrary lib) {
        this.lib = lib;
        cuInit = f("cuInit", JAVA_INT);
        cuGetErrorName = f("cuGetErrorName", JAVA_INT, ADDRESS);
        cuDeviceGetCount = f("cuDeviceGetCount", ADDRESS);
        cuDeviceGet = f("cuDeviceGet", ADDRESS, JAVA_INT);
        cuDeviceGetName = f("cuDeviceGetName", ADDRESS, JAVA_INT, JAVA_INT);
        cuDeviceGetAttribute = f("cuDeviceGetAttribute", ADDRESS, JAVA_INT, JAVA_INT);
        cuDevicePrimaryCtxRetain = f("cuDevicePrimaryCtxRetain", ADDRESS, JAVA_INT);
        cuDevicePrimaryCtxRelease = f("cuDevicePrimaryCtxRelease_v2", JAVA_INT);
        cuCtxSetCurrent = f("cuCtxSetCurrent", ADDRESS);
        cuMemGetInfo = f("cuMemGetInfo_v2", ADDRESS, ADDRESS);
        cuMemAlloc = f("cuMemAlloc_v2", ADDRESS, JAVA_LONG);
        cuMemFree = f("cuMemFree_v2", JAVA_LONG);
        cuMemHostAlloc = f("cuMemHostAlloc", ADDRESS, JAVA_LONG, JAVA_INT);
        cuMemFreeHost = f("cuMemFreeHost", ADDRESS);
        cuMemHostRegister = f("cuMemHostRegister_v2", ADDRESS, JAVA_LONG, JAVA_INT);
        cuMemHostUnregister = f("cuMemHostUnregister", ADDRESS);
        cuMemHostGetDevicePointer = f("cuMemHostGetDevicePointer_v2", ADDRESS, ADDRESS, JAVA_INT);
        cuMemcpyHtoDAsync = f("cuMemcpyHtoDAsync_v2", JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS);
        cuMemcpyDtoHAsync = f("cuMemcpyDtoHAsync_v2", ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS);
        cuMemcpyDtoDAsync = f("cuMemcpyDtoDAsync_v2", JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS);
        cuMemcpyAsync = f("cuMemcpyAsync", JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS);
        cuMemcpy2DAsync = f("cuMemcpy2DAsync_v2", ADDRESS, ADDRESS);
        cuMemsetD32Async = f("cuMemsetD32Async", JAVA_LONG, JAVA_INT, JAVA_LONG, ADDRESS);
        cuStreamCreate = f("cuStreamCreate", ADDRESS, JAVA_INT);
        cuStreamSynchronize = f("cuStreamSynchronize", ADDRESS);
        cuStreamDestroy = f("cuStreamDestroy_v2", ADDRESS);
        cuModuleLoadData = f("cuModuleLoadData", ADDRESS, ADDRESS);
        cuModuleGetFunction = f("cuModuleGetFunction", ADDRESS, ADDRESS, ADDRESS);
        cuFuncSetAttribute = f("cuFuncSetAttribute", ADDRESS, JAVA_INT, JAVA_INT);
        cuLaunchKernel = f("cuLaunchKernel", ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
        cuEventCreate = f("cuEventCreate", ADDRESS, JAVA_INT);
        cuEventRecord = f("cuEventRecord", ADDRESS, ADDRESS);
        cuEventSynchronize = f("cuEventSynchronize", ADDRESS);
        cuEventElapsedTime = f("cuEventElapsedTime_v2", ADDRESS, ADDRESS, ADDRESS);
        cuEventDestroy = f("cuEventDestroy_v2", ADDRESS);
        cuStreamWaitEvent = f("cuStreamWaitEvent", ADDRESS, ADDRESS, JAVA_INT);
    }

    private MethodHandle f(String name, java.lang.foreign.MemoryLayout... args) {
        return lib.function(name, FunctionDescriptor.of(JAVA_INT, args));
    }

    /**
     * The driver, loaded and initialised once ({@code cuInit}); the same failure every later
     * time if there is none.
     */
    public static synchronized CudaDriver get() {
        if (instance != null) {
            return instance;
        }
        if (failure != null) {
            throw failure;
        }
        try {
            CudaDriver driver = new CudaDriver(NativeLibrary.load("the NVIDIA driver's CUDA library",
                    List.of("libcuda.so.1", "libcuda.so")));
            int rc = (int) driver.cuInit.invokeExact(0);
            if (rc != 0) {
                throw new CudaUnavailableException("cuInit failed: " + driver.errorName(rc)
                        + (rc == CUDA_ERROR_NO_DEVICE ? " (no CUDA device visible)" : ""));
            }
            instance = driver;
            return driver;
        } catch (CudaUnavailableException e) {
            failure = e;
            throw e;
        } catch (Throwable t) {
            failure = new CudaUnavailableException("loading the CUDA driver failed: " + t);
            throw failure;
        }
    }

    NativeLibrary library() {
        return lib;
    }

    String errorName(int rc) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            int status = (int) cuGetErrorName.invokeExact(rc, out);
            if (status != 0) {
                return "CUresult " + rc;
            }
            return out.get(ADDRESS, 0).reinterpret(256).getString(0) + " (" + rc + ")";
        } catch (Throwable t) {
            return "CUresult " + rc;
        }
    }

    private void check(int rc, String call) {
        if (rc != 0) {
            throw new CudaException(call + " failed: " + errorName(rc), rc);
        }
    }


    public int deviceCount() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check((int) cuDeviceGetCount.invokeExact(out), "cuDeviceGetCount");
            return out.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public int device(int ordinal) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check((int) cuDeviceGet.invokeExact(out, ordinal), "cuDeviceGet(" + ordinal + ")");
            return out.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public String deviceName(int device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(256);
            check((int) cuDeviceGetName.invokeExact(out, 256, device), "cuDeviceGetName");
            return out.getString(0);
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public int attribute(int device, int attribute) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check((int) cuDeviceGetAttribute.invokeExact(out, attribute, device), "cuDeviceGetAttribute(" + attribute + ")");
            return out.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public MemorySegment retainPrimaryContext(int device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) cuDevicePrimaryCtxRetain.invokeExact(out, device), "cuDevicePrimaryCtxRetain");
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public void releasePrimaryContext(int device) {
        try {
            check((int) cuDevicePrimaryCtxRelease.invokeExact(device), "cuDevicePrimaryCtxRelease");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public void setCurrent(MemorySegment context) {
        try {
            check((int) cuCtxSetCurrent.invokeExact(context), "cuCtxSetCurrent");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /** {free, total} bytes of device memory. */
    public long[] memoryInfo() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment free = arena.allocate(JAVA_LONG);
            MemorySegment total = arena.allocate(JAVA_LONG);
            check((int) cuMemGetInfo.invokeExact(free, total), "cuMemGetInfo");
            return new long[]{free.get(JAVA_LONG, 0), total.get(JAVA_LONG, 0)};
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /** Device memory, or {@link CudaException} with code {@link #CUDA_ERROR_OUT_OF_MEMORY}. */
    public long malloc(long bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);
            check((int) cuMemAlloc.invokeExact(out, Math.max(bytes, 1L)), "cuMemAlloc(" + bytes + " bytes)");
            return out.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public void free(long pointer) {
        try {
            check((int) cuMemFree.invokeExact(pointer), "cuMemFree");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /** Page-locked host memory that copies run from at full speed, as a segment of {@code bytes}. */
    public MemorySegment hostAlloc(long bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) cuMemHostAlloc.invokeExact(out, bytes, 0), "cuMemHostAlloc(" + bytes + " bytes)");
            return out.get(ADDRESS, 0).reinterpret(bytes);
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public void freeHost(MemorySegment host) {
        try {
            check((int) cuMemFreeHost.invokeExact(host), "cuMemFreeHost");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /**
     * Page-locks host memory and maps it into the device's address space (kernels then read and
     * write it over the bus); its device address, or 0 if the driver refuses.
     */
    public long hostRegisterMapped(MemorySegment host) {
        try (Arena arena = Arena.ofConfined()) {
            int rc = (int) cuMemHostRegister.invokeExact(host, host.byteSize(), CU_MEMHOSTREGISTER_PORTABLE_DEVICEMAP);
            if (rc != 0) {
                return 0;
            }
            MemorySegment out = arena.allocate(JAVA_LONG);
            check((int) cuMemHostGetDevicePointer.invokeExact(out, host, 0), "cuMemHostGetDevicePointer");
            return out.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /**
     * By address, not through the segment: its owner may have closed it already (the registration
     * outlives the mapping, and the driver still holds the pages until this call).
     */
    public void hostUnregister(MemorySegment host) {
        try {
            check((int) cuMemHostUnregister.invokeExact(MemorySegment.ofAddress(host.address())),
                    "cuMemHostUnregister");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /**
     * Page-locks host memory someone else mapped (an Aeron log) for DMA, without mapping it for
     * kernels; the driver's result code (0, or {@link #CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED}
     * among the refusals), never thrown: the caller falls back.
     */
    public int hostRegister(long address, long bytes) {
        try {
            return (int) cuMemHostRegister.invokeExact(MemorySegment.ofAddress(address), bytes, CU_MEMHOSTREGISTER_PORTABLE);
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /** Undoes {@link #hostRegister}; the result code, never thrown (the memory may be unmapped by now). */
    public int hostUnregister(long address) {
        try {
            return (int) cuMemHostUnregister.invokeExact(MemorySegment.ofAddress(address));
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /**
     * A strided copy ({@code cuMemcpy2DAsync}) described by {@code params}, a {@code CUDA_MEMCPY2D}
     * of {@link #MEMCPY2D_BYTES} the caller filled: the driver reads it during the call.
     */
    public void copy2D(MemorySegment params, MemorySegment stream) {
        try {
            check((int) cuMemcpy2DAsync.invokeExact(params, stream), "cuMemcpy2DAsync");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public void copyToDevice(long dst, MemorySegment src, long bytes, MemorySegment stream) {
        try {
            check((int) cuMemcpyHtoDAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyHtoDAsync");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public void copyToHost(MemorySegment dst, long src, long bytes, MemorySegment stream) {
        try {
            check((int) cuMemcpyDtoHAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyDtoHAsync");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public void copyOnDevice(long dst, long src, long bytes, MemorySegment stream) {
        try {
            check((int) cuMemcpyDtoDAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyDtoDAsync");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /**
     * A copy between unified addresses (device memory, or registered host memory's device
     * pointer), the driver telling which from the pointers: a DMA on the copy engines.
     */
    public void copy(long dst, long src, long bytes, MemorySegment stream) {
        try {
            check((int) cuMemcpyAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyAsync");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public void fill32(long dst, int value, long count, MemorySegment stream) {
        try {
            check((int) cuMemsetD32Async.invokeExact(dst, value, count, stream), "cuMemsetD32Async");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public MemorySegment createStream() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) cuStreamCreate.invokeExact(out, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public void synchronize(MemorySegment stream) {
        try {
            check((int) cuStreamSynchronize.invokeExact(stream), "cuStreamSynchronize");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public void destroyStream(MemorySegment stream) {
        try {
            check((int) cuStreamDestroy.invokeExact(stream), "cuStreamDestroy");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /** Loads a cubin or PTX image; the image may be freed afterwards. */
    public MemorySegment loadModule(MemorySegment image) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) cuModuleLoadData.invokeExact(out, image), "cuModuleLoadData");
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public MemorySegment function(MemorySegment module, String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) cuModuleGetFunction.invokeExact(out, module, arena.allocateFrom(name)),
                    "cuModuleGetFunction(" + name + ")");
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public void setFunctionAttribute(MemorySegment function, int attribute, int value) {
        try {
            check((int) cuFuncSetAttribute.invokeExact(function, attribute, value), "cuFuncSetAttribute");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /** {@code params}: an array of pointers, one to each argument's value (see {@code KernelArgs}). */
    public void launch(MemorySegment function, int gridX, int gridY, int gridZ, int blockX, int sharedBytes,
                       MemorySegment stream, MemorySegment params, String name) {
        try {
            int rc = (int) cuLaunchKernel.invokeExact(function, gridX, gridY, gridZ, blockX, 1, 1, sharedBytes, stream,
                    params, MemorySegment.NULL);
            if (rc != 0) {
                throw new CudaException("cuLaunchKernel(" + name + ", grid " + gridX + "x" + gridY + "x" + gridZ
                        + ", block " + blockX + ") failed: " + errorName(rc), rc);
            }
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public MemorySegment createEvent() {
        return createEvent(0);
    }

    /** An event only for ordering streams (CU_EVENT_DISABLE_TIMING: cheaper to record and wait on). */
    public MemorySegment createOrderingEvent() {
        return createEvent(2);
    }

    private MemorySegment createEvent(int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) cuEventCreate.invokeExact(out, flags), "cuEventCreate");
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /** Work enqueued on {@code stream} after this waits until {@code event}'s work is done. */
    public void waitEvent(MemorySegment stream, MemorySegment event) {
        try {
            check((int) cuStreamWaitEvent.invokeExact(stream, event, 0), "cuStreamWaitEvent");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public void record(MemorySegment event, MemorySegment stream) {
        try {
            check((int) cuEventRecord.invokeExact(event, stream), "cuEventRecord");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public void synchronizeEvent(MemorySegment event) {
        try {
            check((int) cuEventSynchronize.invokeExact(event), "cuEventSynchronize");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /** Milliseconds between two recorded events. */
    public float elapsedMillis(MemorySegment start, MemorySegment end) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_FLOAT);
            check((int) cuEventElapsedTime.invokeExact(out, start, end), "cuEventElapsedTime");
            return out.get(JAVA_FLOAT, 0);
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    public void destroyEvent(MemorySegment event) {
        try {
            check((int) cuEventDestroy.invokeExact(event), "cuEventDestroy");
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    @Override
    public String toString() {
        return lib.toString();
    }
}
