package dev.tandem.cli;

import dev.tandem.core.compute.BackendSpec;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/** {@code --device} and {@code --dtype}, as every command that computes takes them. */
final class DeviceOptions {
    @Option(names = "--device", description = "auto (default: cuda:0 if a CUDA driver and device are found, else cpu), cpu, cuda or cuda:N.")
    String device;

    @Option(names = "--dtype", description = "auto (default: bfloat16 on a GPU, float32 on the CPU), float32 or bfloat16.")
    String dtype;

    /** The backend to build, with {@code threads} CPU kernel threads (0: one per core). */
    BackendSpec spec(int threads) {
        return new BackendSpec(device, dtype, threads);
    }

    /** A child process's arguments for {@code device} and {@code dtype} (none for those left at auto, null). */
    static List<String> arguments(String device, String dtype) {
        List<String> args = new ArrayList<>();
        if (device != null) {
            args.addAll(List.of("--device", device));
        }
        if (dtype != null) {
            args.addAll(List.of("--dtype", dtype));
        }
        return args;
    }

    /** Backend log lines, on stderr as the CLI writes them. */
    static Consumer<String> log() {
        return line -> System.err.println("tandem: " + line);
    }
}
