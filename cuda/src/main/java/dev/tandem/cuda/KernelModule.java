package dev.tandem.cuda;

import dev.tandem.cuda.bind.CudaDriver;
import dev.tandem.cuda.bind.Nvrtc;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * The kernels of a CUDA C resource, compiled by NVRTC for the device's compute capability at
 * first use and cached on disk under {@code $TANDEM_CACHE} (default {@code ~/.cache/tandem/kernels}),
 * keyed by the source, the architecture and NVRTC's version: later starts load the cubin
 * without compiling.
 */
final class KernelModule {
    // -Dtandem.cuda.nvrtcDefines=NAME=VALUE,… sets the kernels' A/B knobs (MMA_K_LDMATRIX, …) for measurement runs
    private static final List<String> OPTIONS = options(System.getProperty("tandem.cuda.nvrtcDefines", ""));

    private static List<String> options(String defines) {
        List<String> options = new java.util.ArrayList<>(List.of("--std=c++17", "-default-device"));
        for (String d : defines.split(",")) {
            if (!d.isBlank()) {
                options.add("-D" + d.strip());
            }
        }
        return List.copyOf(options);
    }

    private final CudaDriver driver;
    private final MemorySegment module;

    private KernelModule(CudaDriver driver, MemorySegment module) {
        this.driver = driver;
        this.module = module;
    }

    static KernelModule load(CudaDriver driver, String resource, int major, int minor, java.util.function.Consumer<String> log) {
        String source = readResource(resource);
        byte[] cubin = cached(source, major, minor, log, resource);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment image = arena.allocate(cubin.length + 1L, 16);
            MemorySegment.copy(cubin, 0, image, ValueLayout.JAVA_BYTE, 0, cubin.length);
            return new KernelModule(driver, driver.loadModule(image));
        }
    }

    MemorySegment function(String name) {
        return driver.function(module, name);
    }

    private static byte[] cached(String source, int major, int minor, java.util.function.Consumer<String> log,
                                 String resource) {
        Nvrtc nvrtc = Nvrtc.get();
        String key = sha256(source + "\0sm_" + major + minor + "\0" + nvrtc.version() + "\0" + OPTIONS);
        Path dir = cacheDir();
        Path file = dir.resolve(resource.replaceAll("[^A-Za-z0-9_.-]", "_") + "-sm_" + major + minor + "-" + key.substring(0, 16) + ".cubin");
        if (Files.isRegularFile(file)) {
            try {
                return Files.readAllBytes(file);
            } catch (IOException unreadable) {
                log.accept("kernel cache " + file + " unreadable (" + unreadable.getMessage() + "); compiling");
            }
        }
        long start = System.nanoTime();
        byte[] cubin = nvrtc.compileToCubin(source, resource, major, minor, OPTIONS);
        log.accept(String.format("compiled %s for sm_%d%d with NVRTC %s in %.0f ms", resource, major, minor,
                nvrtc.version(), (System.nanoTime() - start) / 1e6));
        try {
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, "kernels", ".tmp");
            Files.write(tmp, cubin);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            log.accept("kernel cache " + dir + " not writable (" + e.getMessage() + "); compiling again next time");
        }
        return cubin;
    }

    private static Path cacheDir() {
        String configured = System.getenv("TANDEM_CACHE");
        Path root = configured != null ? Path.of(configured) : Path.of(System.getProperty("user.home"), ".cache", "tandem");
        return root.resolve("kernels");
    }

    private static String readResource(String resource) {
        try (InputStream in = KernelModule.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("kernel source " + resource + " is missing from the jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("reading " + resource + ": " + e.getMessage(), e);
        }
    }

    private static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
