package dev.tandem.cuda.bind;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * A shared library found the way CUDA's own tools find it: by soname through the dynamic
 * loader (ldconfig's cache, {@code LD_LIBRARY_PATH}), then in {@code $CUDA_HOME},
 * {@code /usr/local/cuda*} and {@code /usr/local/nvidia/lib64}. Loaded once and never unloaded.
 */
final class NativeLibrary {
    private static final Linker LINKER = Linker.nativeLinker();

    private final String description;
    private final SymbolLookup lookup;

    private NativeLibrary(String description, SymbolLookup lookup) {
        this.description = description;
        this.lookup = lookup;
    }

    /** The first of {@code sonames} that loads, by name and then in each standard directory. */
    static NativeLibrary load(String what, List<String> sonames) {
        List<String> tried = new ArrayList<>();
        for (String name : sonames) {
            try {
                return new NativeLibrary(name, SymbolLookup.libraryLookup(name, Arena.global()));
            } catch (IllegalArgumentException notFound) {
                tried.add(name);
            }
        }
        for (Path dir : searchDirectories()) {
            for (String name : sonames) {
                Path file = dir.resolve(name);
                if (Files.exists(file)) {
                    try {
                        return new NativeLibrary(file.toString(), SymbolLookup.libraryLookup(file, Arena.global()));
                    } catch (IllegalArgumentException broken) {
                        tried.add(file + " (exists but does not load)");
                        continue;
                    }
                }
                tried.add(file.toString());
            }
        }
        throw new CudaUnavailableException(what + " not found; looked for " + String.join(", ", tried));
    }

    private static List<Path> searchDirectories() {
        Set<Path> dirs = new LinkedHashSet<>();
        String cudaHome = System.getenv("CUDA_HOME");
        for (String home : cudaHome == null ? new String[0] : new String[]{cudaHome}) {
            dirs.add(Path.of(home, "lib64"));
            dirs.add(Path.of(home, "targets", "x86_64-linux", "lib"));
        }
        try (Stream<Path> local = Files.list(Path.of("/usr/local"))) {
            local.filter(p -> p.getFileName().toString().startsWith("cuda")).sorted().forEach(home -> {
                dirs.add(home.resolve("lib64"));
                dirs.add(home.resolve("targets/x86_64-linux/lib"));
            });
        } catch (Exception none) {
            // no /usr/local: only the other places
        }
        dirs.add(Path.of("/usr/local/nvidia/lib64"));
        dirs.add(Path.of("/usr/lib/x86_64-linux-gnu"));
        dirs.add(Path.of("/usr/lib64"));
        return new ArrayList<>(dirs);
    }

    /** A downcall handle to {@code symbol}; a missing symbol names the library it was looked for in. */
    MethodHandle function(String symbol, FunctionDescriptor descriptor) {
        MemorySegment address = lookup.find(symbol).orElseThrow(() -> new CudaUnavailableException(
                description + " has no symbol " + symbol + " (too old a version?)"));
        return LINKER.downcallHandle(address, descriptor);
    }

    @Override
    public String toString() {
        return description;
    }
}
