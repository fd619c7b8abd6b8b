package dev.tandem.cli;

import dev.tandem.bench.m2n.M2nBenchConfig;
import dev.tandem.bench.m2n.M2nBenchmark;
import dev.tandem.bench.m2n.M2nReport;
import dev.tandem.bench.m2n.Transport;
import dev.tandem.core.compute.BackendSpec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code tandem bench m2n}: the M2N transports (Aeron IPC, Aeron UDP, Netty TCP) against a plain
 * memory copy of the same bytes, M×N in {1×1, 2×2, 4×4}, 2 KB to 8 MB per peer, in one process.
 * The table goes to stdout, progress to stderr.
 */
@Command(name = "m2n", mixinStandardHelpOptions = true,
        description = "Benchmark the M2N transports (Aeron IPC, Aeron UDP, Netty TCP) against memcpy.")
final class BenchM2nCommand implements Callable<Integer> {
    @Option(names = "--json", paramLabel = "FILE", description = "Also write the results as JSON.")
    Path json;

    @Option(names = "--plot", paramLabel = "FILE", defaultValue = "m2n.png",
            description = "PNG of throughput and p99 against size (default ${DEFAULT-VALUE}).")
    Path plot;

    @Option(names = "--quick", description = "Three sizes and shorter runs (well under a minute).")
    boolean quick;

    @Option(names = "--aeron-log-budget-mib", paramLabel = "MIB",
            description = "Skip configurations whose Aeron log buffers need more memory (default "
                    + M2nBenchConfig.DEFAULT_LOG_BUDGET_MIB + ").")
    Long logBudgetMiB;

    @Option(names = "--repeat", paramLabel = "N", defaultValue = "1",
            description = "Run each row N times, transports taking turns, and report the run with the median "
                    + "throughput (default ${DEFAULT-VALUE}); for a machine shared with other work.")
    int repeats;

    @Option(names = "--transport", split = ",", paramLabel = "NAME",
            description = "Only these: aeron-ipc, aeron-udp, netty-tcp, memcpy.")
    List<String> transports;

    @Option(names = "--shape", split = ",", paramLabel = "MxN", description = "Only these shapes, e.g. 2x2.")
    List<String> shapes;

    @Option(names = "--size", split = ",", paramLabel = "BYTES",
            description = "Only these sizes per peer, multiples of " + M2nBenchmark.ROW_BYTES + " bytes.")
    List<Integer> sizes;

    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "cpu",
            description = "cpu (rows in host memory; default) or cuda[:N]: every sender's and receiver's rows start and end"
                    + " in that GPU's memory, one DMA each way around the transport, and memcpy is the device's own"
                    + " copy to pinned host memory and back (cuMemcpy D→H→D).")
    String device;

    @Option(names = "--replot", paramLabel = "FILE",
            description = "Only draw --plot from the --json of an earlier run (e.g. one on a machine without java.desktop).")
    Path replot;

    @Override
    public Integer call() {
        if (replot != null) {
            M2nReport.replot(plot, M2nReport.readJson(replot));
            System.err.println("m2n: wrote " + plot);
            return 0;
        }
        M2nBenchConfig config = quick ? M2nBenchConfig.quick() : M2nBenchConfig.full();
        BackendSpec spec = new BackendSpec(device, null, 0);
        if (!spec.device().equals("cpu")) {
            if (spec.device().equals(BackendSpec.AUTO)) {
                throw new IllegalArgumentException("--device: cpu or cuda[:N], not auto (the two measure different paths)");
            }
            config = config.withDevice(spec);
        }
        if (logBudgetMiB != null) {
            config = config.withLogBudgetMiB(logBudgetMiB);
        }
        config = config.withRepeats(repeats);
        if (transports != null) {
            config = config.withTransports(transports.stream().map(BenchM2nCommand::transport).toList());
        }
        if (shapes != null) {
            config = config.withShapes(shapes.stream().map(BenchM2nCommand::shape).toList());
        }
        if (sizes != null) {
            config = config.withSizes(sizes);
        }
        long startNs = System.nanoTime();
        M2nBenchmark.Run run = M2nBenchmark.run(config, line -> System.err.println("m2n: " + line));
        if (config.device() != null) {
            System.out.println("Rows in " + config.device().device() + " memory; memcpy: cuMemcpy device → pinned host → device, out and back.\n");
        }
        System.out.print(M2nReport.markdown(run.results()));
        run.skipped().forEach(line -> System.out.println("\nnot run: " + line));
        if (json != null) {
            M2nReport.writeJson(json, run.results());
            System.err.println("m2n: wrote " + json);
        }
        if (ModuleLayer.boot().findModule("java.desktop").isPresent()) {
            M2nReport.writePlot(plot, run.results(), config.shapes(), config.transports());
            System.err.printf("m2n: wrote %s; %d configurations in %.0f s%n", plot, run.results().size(),
                    (System.nanoTime() - startNs) / 1e9);
        } else {
            System.err.printf("m2n: no plot, this Java runtime has no java.desktop; %d configurations in %.0f s%n",
                    run.results().size(), (System.nanoTime() - startNs) / 1e9);
        }
        return run.results().isEmpty() ? 1 : 0;
    }

    private static Transport transport(String label) {
        for (Transport t : Transport.values()) {
            if (t.label().equals(label)) {
                return t;
            }
        }
        throw new IllegalArgumentException("unknown transport " + label + " (aeron-ipc, aeron-udp, netty-tcp, memcpy)");
    }

    private static M2nBenchConfig.Shape shape(String mxn) {
        String[] parts = mxn.toLowerCase(java.util.Locale.ROOT).split("x");
        if (parts.length != 2) {
            throw new IllegalArgumentException("shape must be MxN, e.g. 2x2: " + mxn);
        }
        return new M2nBenchConfig.Shape(Integer.parseInt(parts[0]), Integer.parseInt(parts[1]));
    }
}
