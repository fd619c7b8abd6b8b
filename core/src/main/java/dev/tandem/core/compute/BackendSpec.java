package dev.tandem.core.compute;

import dev.tandem.core.TandemException;
import dev.tandem.core.compute.cpu.CpuBackend;

import java.util.ServiceLoader;
import java.util.function.Consumer;

/**
 * Which backend a process computes on, as the command line and the cluster config name it:
 * {@code device} is {@code auto}, {@code cpu}, {@code cuda} or {@code cuda:N}; {@code dtype} is
 * {@code auto}, {@code float32} or {@code bfloat16} (vLLM's names); {@code threads} are the CPU
 * backend's kernel threads (0: one per core); {@code memoryShare} is the most of a GPU's memory this
 * process may hold ({@code --gpu-memory-utilization} of a node that shares its GPU with others; 0:
 * no share, the device's free memory bounds it). The one place a backend is built.
 */
public record BackendSpec(String device, String dtype, int threads, double memoryShare) {
    public static final String AUTO = "auto";

    public BackendSpec(String device, String dtype, int threads) {
        this(device, dtype, threads, 0);
    }

    public BackendSpec {
        device = device == null ? AUTO : device.trim().toLowerCase(java.util.Locale.ROOT);
        dtype = dtype == null ? AUTO : dtype.trim().toLowerCase(java.util.Locale.ROOT);
        if (!device.equals(AUTO) && !device.equals("cpu") && !device.equals("cuda") && !device.matches("cuda:\\d+")) {
            throw new TandemException("device '" + device + "': expected auto, cpu, cuda or cuda:N");
        }
        if (!dtype.equals(AUTO) && canonicalDtype(dtype) == null) {
            throw new TandemException("dtype '" + dtype + "': expected auto, float32 or bfloat16");
        }
        if (threads < 0) {
            throw new TandemException("threads must be >= 0, got " + threads);
        }
        if (!(memoryShare >= 0 && memoryShare <= 1)) {
            throw new TandemException("--gpu-memory-utilization must be in (0, 1], got " + memoryShare);
        }
    }

    /** This spec with a share of the GPU's memory (null or 0: none). */
    public BackendSpec withMemoryShare(Double share) {
        return share == null ? this : new BackendSpec(device, dtype, threads, share);
    }

    /** The CPU with {@code threads} kernel threads (0: one per core). */
    public static BackendSpec cpu(int threads) {
        return new BackendSpec("cpu", AUTO, threads);
    }

    private static String canonicalDtype(String dtype) {
        return switch (dtype) {
            case "float32", "float", "fp32" -> "float32";
            case "bfloat16", "bf16" -> "bfloat16";
            default -> null;
        };
    }

    /**
     * The backend: {@code auto} takes cuda:0 when a driver and a device are found, else the CPU,
     * and says which through {@code log}; an explicit device that cannot be opened fails with
     * the reason.
     */
    public ComputeBackend open(Consumer<String> log) {
        AcceleratorProvider cuda = provider("cuda");
        String target = device;
        if (target.equals(AUTO)) {
            String reason = cuda == null ? "this build has no CUDA module" : cuda.unavailableReason();
            if (reason == null) {
                target = "cuda:0";
                log.accept("device auto: " + cuda.describe(0));
            } else {
                target = "cpu";
                int cut = reason.indexOf(';');
                log.accept("device auto: cpu (" + (cut < 0 ? reason : reason.substring(0, cut)) + ")");
            }
        }
        String resolvedDtype = dtype.equals(AUTO) ? (target.equals("cpu") ? "float32" : "bfloat16") : canonicalDtype(dtype);
        if (target.equals("cpu")) {
            if (resolvedDtype.equals("bfloat16")) {
                throw new TandemException("dtype bfloat16: the CPU backend computes in float32 (bf16 weights are widened"
                        + " exactly); use --dtype float32 or auto, or a CUDA device");
            }
            CpuBackend cpu = threads == 0 ? new CpuBackend() : new CpuBackend(threads);
            log.accept("device cpu (" + cpu.threads() + " kernel threads), dtype float32"
                    + (memoryShare > 0 ? "; --gpu-memory-utilization does not apply" : ""));
            return cpu;
        }
        if (cuda == null) {
            throw new TandemException("device " + target + ": this build has no CUDA module (tandem-cuda)");
        }
        String reason = cuda.unavailableReason();
        if (reason != null) {
            throw new TandemException("device " + target + ": " + reason);
        }
        int ordinal = target.equals("cuda") ? 0 : Integer.parseInt(target.substring("cuda:".length()));
        return cuda.open(ordinal, resolvedDtype.equals("bfloat16"), memoryShare, log);
    }

    /**
     * The device {@link #open} would take, without opening it: {@code auto} as cuda:0 when a CUDA
     * driver and device are found, else cpu; {@code cuda} as cuda:0.
     */
    public String resolvedDevice() {
        if (device.equals(AUTO)) {
            AcceleratorProvider cuda = provider("cuda");
            return cuda != null && cuda.unavailableReason() == null ? "cuda:0" : "cpu";
        }
        return device.equals("cuda") ? "cuda:0" : device;
    }

    private static AcceleratorProvider provider(String kind) {
        for (AcceleratorProvider p : ServiceLoader.load(AcceleratorProvider.class)) {
            if (p.kind().equals(kind)) {
                return p;
            }
        }
        return null;
    }

    /** "cpu", "cuda:0 bfloat16", … as a log line would name it. */
    @Override
    public String toString() {
        return device + (dtype.equals(AUTO) ? "" : " " + dtype);
    }
}
