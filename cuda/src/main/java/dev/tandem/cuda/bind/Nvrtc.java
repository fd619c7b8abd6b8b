package dev.tandem.cuda.bind;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/** NVRTC, CUDA's run-time compiler: CUDA C source to a cubin for one compute capability. */
public final class Nvrtc {
    private static Nvrtc instance;

    private final NativeLibrary lib;
    private final MethodHandle nvrtcVersion;
    private final MethodHandle nvrtcGetErrorString;
    private final MethodHandle nvrtcCreateProgram;
    private final MethodHandle nvrtcCompileProgram;
    private final MethodHandle nvrtcGetProgramLogSize;
    private final MethodHandle nvrtcGetProgramLog;
    private final MethodHandle nvrtcGetCUBINSize;
    private final MethodHandle nvrtcGetCUBIN;
    private final MethodHandle nvrtcDestroyProgram;

    private Nvrtc(NativeLibrary lib) {
        this.lib = lib;
        nvrtcVersion = lib.function("nvrtcVersion", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        nvrtcGetErrorString = lib.function("nvrtcGetErrorString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
        nvrtcCreateProgram = lib.function("nvrtcCreateProgram",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
        nvrtcCompileProgram = lib.function("nvrtcCompileProgram", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
        nvrtcGetProgramLogSize = lib.function("nvrtcGetProgramLogSize", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        nvrtcGetProgramLog = lib.function("nvrtcGetProgramLog", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        nvrtcGetCUBINSize = lib.function("nvrtcGetCUBINSize", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        nvrtcGetCUBIN = lib.function("nvrtcGetCUBIN", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        nvrtcDestroyProgram = lib.function("nvrtcDestroyProgram", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    public static synchronized Nvrtc get() {
        if (instance == null) {
            instance = new Nvrtc(NativeLibrary.load("NVRTC (CUDA's run-time compiler)",
                    List.of("libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so")));
        }
        return instance;
    }

    /** "major.minor". */
    public String version() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment major = arena.allocate(JAVA_INT);
            MemorySegment minor = arena.allocate(JAVA_INT);
            check((int) nvrtcVersion.invokeExact(major, minor), "nvrtcVersion");
            return major.get(JAVA_INT, 0) + "." + minor.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    /**
     * Compiles {@code source} (named {@code name} in messages) for {@code sm_XY}; a compile error
     * carries NVRTC's log.
     */
    public byte[] compileToCubin(String source, String name, int computeMajor, int computeMinor, List<String> options) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment programOut = arena.allocate(ADDRESS);
            check((int) nvrtcCreateProgram.invokeExact(programOut, arena.allocateFrom(source), arena.allocateFrom(name), 0,
                    MemorySegment.NULL, MemorySegment.NULL), "nvrtcCreateProgram");
            MemorySegment program = programOut.get(ADDRESS, 0);
            try {
                List<String> all = new java.util.ArrayList<>(options);
                all.add("--gpu-architecture=sm_" + computeMajor + computeMinor);
                MemorySegment argv = arena.allocate(ADDRESS, all.size());
                for (int i = 0; i < all.size(); i++) {
                    argv.setAtIndex(ADDRESS, i, arena.allocateFrom(all.get(i)));
                }
                int rc = (int) nvrtcCompileProgram.invokeExact(program, all.size(), argv);
                if (rc != 0) {
                    throw new CudaException("NVRTC could not compile " + name + " for sm_" + computeMajor + computeMinor
                            + ": " + errorString(rc) + "\n" + log(arena, program), rc);
                }
                MemorySegment size = arena.allocate(JAVA_LONG);
                check((int) nvrtcGetCUBINSize.invokeExact(program, size), "nvrtcGetCUBINSize");
                MemorySegment cubin = arena.allocate(size.get(JAVA_LONG, 0));
                check((int) nvrtcGetCUBIN.invokeExact(program, cubin), "nvrtcGetCUBIN");
                return cubin.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            } finally {
                int ignored = (int) nvrtcDestroyProgram.invokeExact(programOut);
            }
        } catch (Throwable t) {
            throw Calls.rethrow(t);
        }
    }

    private String log(Arena arena, MemorySegment program) throws Throwable {
        MemorySegment size = arena.allocate(JAVA_LONG);
        check((int) nvrtcGetProgramLogSize.invokeExact(program, size), "nvrtcGetProgramLogSize");
        MemorySegment log = arena.allocate(size.get(JAVA_LONG, 0) + 1);
        check((int) nvrtcGetProgramLog.invokeExact(program, log), "nvrtcGetProgramLog");
        return log.getString(0);
    }

    private String errorString(int rc) {
        try {
            return ((MemorySegment) nvrtcGetErrorString.invokeExact(rc)).reinterpret(256).getString(0) + " (" + rc + ")";
        } catch (Throwable t) {
            return "nvrtcResult " + rc;
        }
    }

    private void check(int rc, String call) {
        if (rc != 0) {
            throw new CudaException(call + " failed: " + errorString(rc), rc);
        }
    }


    @Override
    public String toString() {
        return lib.toString();
    }
}
