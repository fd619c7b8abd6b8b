package dev.tandem.cli;

import dev.tandem.bench.KernelBenchmarks;
import dev.tandem.bench.KernelReport;
import dev.tandem.bench.MachineInfo;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code tandem bench kernels}: the decode-shape bf16 kernels against the machine's read
 * bandwidth, in one JMH run. The table goes to stdout, JMH's progress to stderr.
 */
@Command(name = "kernels", mixinStandardHelpOptions = true,
        description = "Benchmark the bf16 matmul kernels at the Mixtral-8x7B expert shape (14336 x 4096) "
                + "at batch 1, 8 and 64 against a read-bandwidth benchmark run alongside; prints a markdown table.")
final class BenchKernelsCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--quick", description = "One fork, three 1-s iterations: a smoke run (about 30 s; 2 forks × 5 × 1 s otherwise, about 2 min).")
    boolean quick;

    @Option(names = "--threads", defaultValue = "0",
            description = "Kernel threads, also used by the bandwidth benchmark (default: all cores).")
    int threads;

    @Option(names = "--investigate",
            description = "Also run the batch-1 kernel prototypes (loop variants, row-blocked transposed kernel).")
    boolean investigate;

    @Option(names = "--json", description = "Also write the results to this JSON file.")
    Path json;

    @Override
    public Integer call() throws Exception {
        if (threads < 0) {
            throw new IllegalArgumentException("--threads must be >= 0, got " + threads);
        }
        MachineInfo machine = MachineInfo.probe(1000);
        if (machine.busyWarning() != null) {
            System.err.println("tandem: " + machine.busyWarning());
        }
        KernelReport report = KernelBenchmarks.run(new KernelBenchmarks.Settings(quick, threads, investigate), machine,
                System.err);
        spec.commandLine().getOut().print(report.markdown());
        spec.commandLine().getOut().flush();
        if (json != null) {
            report.writeJson(json);
        }
        return 0;
    }
}
