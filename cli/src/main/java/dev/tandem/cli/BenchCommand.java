package dev.tandem.cli;

import picocli.CommandLine.Command;

/** {@code tandem bench …}: benchmarks that compare Tandem with a peer or a physical bound in one run. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Run benchmarks.",
        subcommands = {BenchKernelsCommand.class, BenchGenerateCommand.class, BenchDecodeCommand.class, BenchM2nCommand.class,
                BenchServeCommand.class, BenchGpuCommand.class, BenchKvCommand.class})
final class BenchCommand {
}
