package dev.tandem.cli;

import dev.tandem.bench.GenerateBenchmark;
import dev.tandem.bench.GenerateReport;
import dev.tandem.bench.MachineInfo;
import dev.tandem.core.TandemException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code tandem bench generate}: prefill and decode tokens/s of Tandem's engine and of Jlama on
 * one checkpoint, at several batch sizes. The table goes to stdout, progress to stderr.
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Measure prefill and decode tokens/s of Tandem and (unless --no-peer) Jlama 0.8.4 on a "
                + "checkpoint at several batch sizes; prints a markdown table.")
final class BenchGenerateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, description = "Hugging Face checkpoint directory (Mixtral).")
    Path model;

    @Option(names = "--batch-sizes", split = ",", defaultValue = "1,8,32",
            description = "Sequences generated together, comma-separated (default ${DEFAULT-VALUE}).")
    int[] batchSizes;

    @Option(names = "--prompt-tokens", defaultValue = "64", description = "Prompt length (default ${DEFAULT-VALUE}).")
    int promptTokens;

    @Option(names = "--decode-tokens", defaultValue = "16",
            description = "Tokens decoded per sequence after the first (default ${DEFAULT-VALUE}).")
    int decodeTokens;

    @Option(names = "--threads", description = "Compute threads per engine (default: all cores).")
    Integer threads;

    @Option(names = "--no-peer", description = "Run Tandem only.")
    boolean noPeer;

    @Option(names = "--jlama-activations", defaultValue = "F32",
            description = "Jlama's activation type before each matmul: F32 (Tandem's numerics) or BF16 (default ${DEFAULT-VALUE}).")
    String jlamaActivations;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the random prompts (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--json", description = "Also write the results to this JSON file.")
    Path json;

    @picocli.CommandLine.Mixin
    DeviceOptions device;

    @Override
    public Integer call() {
        if (!Files.isRegularFile(model.resolve("config.json"))) {
            throw new TandemException(model + ": no config.json; make a checkpoint with ./tandem synth --preset mixtral-8x7b"
                    + " --layers 2 --out " + model);
        }
        int n = threads == null ? Runtime.getRuntime().availableProcessors() : threads;
        // the CPU unless --device says otherwise: this benchmark sets Tandem beside a CPU peer
        GenerateBenchmark.Settings settings = new GenerateBenchmark.Settings(model, batchSizes, promptTokens,
                decodeTokens, n, !noPeer, jlamaActivations, seed, device.device == null ? "cpu" : device.device,
                device.dtype);
        MachineInfo machine = MachineInfo.probe(1000);
        if (machine.busyWarning() != null) {
            System.err.println("tandem: " + machine.busyWarning());
        }
        GenerateReport report = GenerateBenchmark.run(settings, machine, System.err);
        spec.commandLine().getOut().print(report.markdown());
        spec.commandLine().getOut().flush();
        if (json != null) {
            report.writeJson(json);
        }
        return 0;
    }
}
