package dev.tandem.bench;

import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.format.OutputFormat;
import org.openjdk.jmh.runner.format.OutputFormatFactory;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import org.openjdk.jmh.runner.options.VerboseMode;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Runs the kernel benchmarks (forked JVMs, JMH's own output to {@code progress}) and relates every
 * kernel's weight bytes per second to the measured read bandwidth. Each benchmark and batch is a
 * JMH run of its own, bracketed by a bandwidth run before and after, so that each row can say how
 * much CPU other processes took while it ran.
 */
public final class KernelBenchmarks {
    /** The flags every Tandem JVM needs, for JMH's forks. */
    static final String[] JVM_FLAGS = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
            "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED"};

    private static final String BANDWIDTH = "memory read-sum (Vector API, KernelPool)";

    /**
     * @param quick       one fork, three 1-s iterations: a smoke run, not numbers to quote
     * @param threads     kernel threads, 0 = one per available processor
     * @param investigate also run the prototypes of {@link MatvecPrototypeBenchmark}
     */
    public record Settings(boolean quick, int threads, boolean investigate) {
    }

    /** One JMH run: a benchmark class with one value of its varying parameter. */
    private record Case(String name, Class<?> benchmark, String param, String value, String batch, double flopsPerCall) {
    }

    private KernelBenchmarks() {
    }

    /** The benchmarks through JMH, which must be in the build ({@link Peers}); JMH's failures come out unchecked. */
    public static KernelReport run(Settings settings, MachineInfo machine, PrintStream progress) {
        Peers.require(Peers.JMH, "JMH (tandem bench kernels)");
        try {
            return measure(settings, machine, progress);
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new dev.tandem.core.TandemException("JMH failed: " + e.getMessage(), e);
        }
    }

    private static KernelReport measure(Settings settings, MachineInfo machine, PrintStream progress)
            throws RunnerException {
        int threads = KernelSetup.resolve(settings.threads());
        double matvecFlops = 2.0 * Bf16Matrices.EXPERT_ROWS * Bf16Matrices.EXPERT_COLS;
        List<Case> cases = new ArrayList<>();
        cases.add(new Case(BANDWIDTH + ", before", MemoryBandwidthBenchmark.class, null, null, "–", Double.NaN));
        for (int batch : new int[] {1, 8, 64}) {
            cases.add(new Case("matmul bf16 (14336, 4096)", MatmulBenchmark.class, "batch", String.valueOf(batch),
                    String.valueOf(batch), matvecFlops * batch));
        }
        cases.add(new Case("matmulTransposed bf16 (14336, 4096), DBRX w2", TransposedMatmulBenchmark.class, "batch", "1",
                "1", matvecFlops));
        if (settings.investigate()) {
            for (String variant : new String[] {"BF16_2ACC", "BF16_4ACC", "BF16_8ACC", "BF16_4ROWS", "FP32_4ACC",
                    MatvecPrototypeBenchmark.TRANSPOSED}) {
                // fp32 rows of the same bytes hold half the weights
                double flops = variant.startsWith("FP32") ? matvecFlops / 2 : matvecFlops;
                cases.add(new Case("prototype " + variant, MatvecPrototypeBenchmark.class, "variant", variant, "1", flops));
            }
        }
        cases.add(new Case(BANDWIDTH + ", after", MemoryBandwidthBenchmark.class, null, null, "–", Double.NaN));

        OutputFormat out = OutputFormatFactory.createFormatInstance(progress, VerboseMode.NORMAL);
        ForeignLoad wholeRun = ForeignLoad.start();
        List<KernelReport.Row> rows = new ArrayList<>();
        for (Case c : cases) {
            ForeignLoad load = ForeignLoad.start();
            RunResult result = new Runner(options(settings, threads, c), out).runSingle();
            rows.add(row(c, result, load.fraction()));
        }
        double bandwidth = rows.stream().filter(r -> r.batch().equals("–"))
                .mapToDouble(KernelReport.Row::bestGbPerSecond).max().orElse(Double.NaN);
        List<KernelReport.Row> withShare = rows.stream().map(r -> r.withPercent(100 * r.bestGbPerSecond() / bandwidth))
                .toList();
        return new KernelReport(machine, threads, settings.quick(), bandwidth, wholeRun.fraction(), withShare);
    }

    private static org.openjdk.jmh.runner.options.Options options(Settings settings, int threads, Case c) {
        ChainedOptionsBuilder options = new OptionsBuilder()
                .include("^" + Pattern.quote(c.benchmark().getName() + "."))
                .param("threads", String.valueOf(threads))
                .jvmArgsAppend(JVM_FLAGS)
                .shouldFailOnError(true);
        if (c.param() != null) {
            options.param(c.param(), c.value());
        }
        // Short: the kernels reach their steady state within the first second, and on a shared
        // machine a short run is likelier to find the cores free.
        if (settings.quick()) {
            options.forks(1).warmupIterations(1).warmupTime(TimeValue.seconds(1))
                    .measurementIterations(3).measurementTime(TimeValue.seconds(1));
        } else {
            options.forks(2).warmupIterations(2).warmupTime(TimeValue.seconds(1))
                    .measurementIterations(5).measurementTime(TimeValue.seconds(1));
        }
        return options.build();
    }

    private static KernelReport.Row row(Case c, RunResult r, double foreignLoad) {
        Result<?> bytes = r.getSecondaryResults().get("bytes");
        double calls = r.getPrimaryResult().getScore();
        return new KernelReport.Row(c.name(), c.batch(), bytes.getScore() / 1e9, bytes.getScoreError() / 1e9,
                bytes.getStatistics().getMax() / 1e9, calls * c.flopsPerCall() / 1e9, Double.NaN, foreignLoad);
    }
}
