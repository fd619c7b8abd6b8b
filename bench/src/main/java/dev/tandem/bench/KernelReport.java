package dev.tandem.bench;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The kernel table: GB/s of weights streamed per kernel and batch, and that as a share of the
 * read bandwidth measured in the same run. The share compares best 1-s iterations: on a shared
 * machine other work only ever slows an iteration down, so the best one is the closest to what
 * the kernel does alone; the mean is given too, with JMH's confidence interval.
 *
 * @param bandwidth   GB/s of the read-sum benchmark's best iteration (before or after), the 100% mark
 * @param foreignLoad share of the machine's CPU time that other processes took during the whole run
 */
public record KernelReport(MachineInfo machine, int threads, boolean quick, double bandwidth, double foreignLoad,
                           List<Row> rows) {
    /**
     * @param gbPerSecond        10⁹ weight bytes read per second
     * @param gbPerSecondError   JMH's 99.9% confidence half-width
     * @param bestGbPerSecond    the best 1-s iteration of any fork
     * @param gflopsPerSecond    10⁹ floating-point operations per second at the mean (multiply and add count two)
     * @param percentOfBandwidth 100 · bestGbPerSecond / bandwidth
     * @param foreignLoad        share of the CPU time that other processes took during this row's run
     */
    public record Row(String benchmark, String batch, double gbPerSecond, double gbPerSecondError,
                      double bestGbPerSecond, double gflopsPerSecond, double percentOfBandwidth, double foreignLoad) {
        Row withPercent(double percent) {
            return new Row(benchmark, batch, gbPerSecond, gbPerSecondError, bestGbPerSecond, gflopsPerSecond, percent,
                    foreignLoad);
        }
    }

    public String markdown() {
        StringBuilder sb = new StringBuilder();
        sb.append("Machine: ").append(machine.describe()).append("; ").append(threads).append(" kernel threads")
                .append(quick ? "; quick run (1 fork, 3 × 1 s): indicative only" : "; 2 forks × 5 × 1 s").append('\n');
        if (machine.busyWarning() != null) {
            sb.append(machine.busyWarning()).append('\n');
        }
        sb.append(String.format("Other processes took %.1f%% of the CPU time during the run.%n", 100 * foreignLoad));
        sb.append('\n');
        sb.append("| benchmark | batch | GB/s, mean ± 99.9% CI | GB/s, best 1-s iteration | % of memory bandwidth (best) | GFLOP/s (mean) | CPU taken by other processes |\n");
        sb.append("|---|---:|---:|---:|---:|---:|---:|\n");
        for (Row r : rows) {
            sb.append(String.format("| %s | %s | %.1f ± %.1f | %.1f | %.0f%% | %s | %.0f%% |%n", r.benchmark(), r.batch(),
                    r.gbPerSecond(), r.gbPerSecondError(), r.bestGbPerSecond(), r.percentOfBandwidth(),
                    Double.isNaN(r.gflopsPerSecond()) ? "–" : String.format("%.1f", r.gflopsPerSecond()),
                    100 * r.foreignLoad()));
        }
        return sb.toString();
    }

    public void writeJson(Path file) {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("machine", machine);
        root.put("threads", threads);
        root.put("quick", quick);
        root.put("bandwidthGBps", bandwidth);
        root.put("foreignLoad", foreignLoad);
        root.put("rows", rows.stream().map(r -> {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("benchmark", r.benchmark());
            m.put("batch", r.batch());
            m.put("gbPerSecond", r.gbPerSecond());
            m.put("gbPerSecondError", r.gbPerSecondError());
            m.put("bestGbPerSecond", r.bestGbPerSecond());
            m.put("gflopsPerSecond", r.gflopsPerSecond());
            m.put("percentOfBandwidth", r.percentOfBandwidth());
            m.put("foreignLoad", r.foreignLoad());
            return m;
        }).toList());
        JsonFiles.write(file, root);
    }
}
